// Starts the `test` local stack (real Redis, PostgreSQL, S3 on loopback) once for the whole run and
// hands its settings to every test file through the environment.
import type { TestProject } from 'vitest/node';
import { stackProfile, stackUp, stackDown, stackStatus } from '@capillary/devstack';

export default async function setup(project: TestProject) {
  if (process.env.CAPILLARY_NO_STACK === '1') return;
  const profile = stackProfile('test');
  const before = await stackStatus(profile);
  const env = await stackUp(profile, (l) => console.log(`[stack:test] ${l}`));
  Object.assign(process.env, env, { NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const startedHere = Object.values(before).some((s) => s === 'stopped');
  return async () => {
    // Leave a stack someone else started (a developer's, or a parallel run's) as it was.
    if (startedHere && process.env.CAPILLARY_KEEP_STACK !== '1') await stackDown(profile);
  };
}
