export * from './errors.ts';
export * from './transitions.ts';
export * from './experiments.ts';
export * from './predictions.ts';
export { PseudoLabelDatasetError } from './pseudo-labels.ts';
export * from './reconciler.ts';
export * from './fair-share.ts';
export * as keys from './keys.ts';
