export { buildApp } from './app.ts';
export { startApi } from './server.ts';
