export * from './spec.ts';
export * from './jobs.ts';
export * from './env.ts';
export * from './validate.ts';
export * from './rules.ts';
export * from './cost.ts';
export * from './events.ts';
export * from './faults.ts';
