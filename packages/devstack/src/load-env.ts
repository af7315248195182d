import { existsSync } from 'node:fs';
import path from 'node:path';
import { stackProfile } from './stack.ts';

/**
 * Commands that reach Postgres, Redis or S3 use the environment when it names them, and otherwise
 * the local stack of the given profile (`.run/<profile>/stack.env`, written by `stack up`).
 * A variable already set in the environment keeps its value: `process.loadEnvFile` never overrides
 * one (Node's documented contract, nodejs/node#49424).
 */
export function useStackEnv(profile = process.env.CAPILLARY_PROFILE ?? 'dev'): void {
  if (process.env.DATABASE_URL && process.env.REDIS_URL && process.env.S3_ENDPOINT) return;
  const file = path.join(stackProfile(profile).dir, 'stack.env');
  if (!existsSync(file)) {
    throw new Error(`no DATABASE_URL/REDIS_URL/S3_ENDPOINT set and no local stack: run \`npx capillary stack up\` first (looked for ${file})`);
  }
  process.loadEnvFile(file);
}
