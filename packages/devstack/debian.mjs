// The one apt-get installer of the repository: the local stack, scripts/setup.mjs and the benchmarks'
// reference implementations all install what they miss through it. Plain JavaScript because
// scripts/setup.mjs imports it with bare `node` on a fresh machine, before node_modules exists.
// Its types and documentation are in debian.d.mts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function missingDebianPackages(wanted) {
  return Object.entries(wanted)
    .filter(([, file]) => !existsSync(file))
    .map(([pkg]) => pkg);
}

export function aptGetCommand(packages) {
  return `apt-get update && apt-get install -y ${packages.join(' ')}`;
}

export function installDebianPackages(packages, opts = {}) {
  const command = aptGetCommand(packages);
  if (!packages.length) return { outcome: 'nothing-missing', command };
  if (process.getuid?.() !== 0) return { outcome: 'not-root', command };
  opts.announce?.(packages);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '-qq', ...(opts.recommends === false ? ['--no-install-recommends'] : []), ...packages];
  for (const args of [['update', '-qq'], install]) {
    if (spawnSync('apt-get', args, { stdio: 'inherit', env }).status !== 0) return { outcome: 'failed', command };
  }
  return { outcome: 'installed', command };
}
