/**
 * The local stack for the dev, test and bench profiles: Redis, Postgres and an S3 server on
 * loopback, started from this repository's files, plus the Debian installer they and the scripts share.
 */
export {
  REPO_ROOT,
  stackProfile,
  stackEnv,
  ensurePackages,
  stackUp,
  stackDown,
  stackStatus,
  stopService,
  startService,
  type StackProfile,
  type StackService,
} from './stack.ts';
export { useStackEnv } from './load-env.ts';
export { installDebianPackages, missingDebianPackages, aptGetCommand, type DebianInstall, type DebianPackages } from '../debian.mjs';
