export * from './connection.ts';
export * from './queues.ts';
export * from './events.ts';
export * from './workers.ts';
export * from './redis-keys.ts';
