// The browser tests' own local stack (profile `browser`, ports apart from `test`), so a worker
// started here never takes jobs queued by another test run on the same machine, nor the reverse.
import { stackProfile, stackUp, stackDown, stackStatus } from '@capillary/devstack';

export default async function setup() {
  const profile = stackProfile('browser');
  const before = await stackStatus(profile);
  const env = await stackUp(profile, (l) => console.log(`[stack:browser] ${l}`));
  Object.assign(process.env, env, { NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const startedHere = Object.values(before).some((s) => s === 'stopped');
  return async () => {
    if (startedHere && process.env.CAPILLARY_KEEP_STACK !== '1') await stackDown(profile);
  };
}
