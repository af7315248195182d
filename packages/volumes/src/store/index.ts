/** Where volumes live: Zarr arrays in S3 read as windows and boxes through a local chunk cache, in-memory volumes, and what is computed from an array once and kept beside it (previews). */
export * from './memory.ts';
export * from './zarr-array.ts';
export * from './zarr-volume.ts';
export * from './chunk-cache.ts';
export * from './computed-cache.ts';
export * from './preview.ts';
export * from './export.ts';
export * from './nifti.ts';
