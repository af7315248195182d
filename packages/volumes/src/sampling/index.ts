/** Training tiles: the sampler (where tiles come from, and its resumable state) and its augmentations. */
export * from './sampler.ts';
export { AUGMENTATIONS, type AugmentationName } from './augmentations.ts';
