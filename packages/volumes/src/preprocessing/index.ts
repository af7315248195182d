/** What is computed from a volume before a network sees it: intensity statistics and normalisation, resampling, the foreground index, the field of view, and validation crops. */
export * from './normalize.ts';
export * from './resample.ts';
export * from './stats.ts';
export * from './foreground.ts';
export * from './field-of-view.ts';
export * from './crops.ts';
export * from './cropped-volume.ts';
