/** Synthetic kidneys: a vessel tree grown in a kidney-shaped capsule, rendered with texture and noise, deterministic by seed. */
export * from './vessel-tree.ts';
export * from './synthetic.ts';
