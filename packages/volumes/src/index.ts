export * from './types.ts';
export * from './memory.ts';
