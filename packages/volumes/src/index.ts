/**
 * @capillary/volumes: the data layer, by what things are: the store, preprocessing, synthetic kidneys
 * and training samples. Importers (sharp, TIFF, the registration of rows) are the separate entry
 * `@capillary/volumes/importers`, so that readers of volumes do not load them.
 */
export * from './types.ts';
export * from './box.ts';
export * from './rng.ts';
export * from './store/index.ts';
export * from './preprocessing/index.ts';
export * from './synthetic/index.ts';
export * from './sampling/index.ts';
