/**
 * Importers (`@capillary/volumes/importers`): kept out of the package index so that readers of
 * volumes (the sampler, the worker) do not load Prisma, sharp and the TIFF decoder.
 */
export * from './import/index.ts';
