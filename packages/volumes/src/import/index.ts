export * from './errors.ts';
export * from './tiff.ts';
export * from './sources.ts';
export * from './import-volume.ts';
export * from './resume.ts';
export * from './crop.ts';
