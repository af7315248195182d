#!/usr/bin/env node
// Builds the oneDNN addon (build/Release/capillary_onednn.node) with the node-gyp that npm bundles,
// against Node's installed headers and Debian's libdnnl-dev. Never fails the caller: where it cannot
// build, it says why and exits 0, and the engine falls back to wasm (saying why once, at run time).
// Skips the build when the addon is newer than its sources. `--force` rebuilds.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const log = (m) => console.error(`[onednn] ${m}`);
const out = path.join(here, 'build', 'Release', 'capillary_onednn.node');
const sources = [path.join(here, 'binding.gyp'), path.join(here, 'src', 'addon.cc'), path.join(here, 'src', 'batchnorm.h')];
const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);

function main() {
  if (!process.argv.includes('--force') && existsSync(out) && sources.every((s) => mtime(s) < mtime(out))) return;
  if (!existsSync('/usr/include/oneapi/dnnl/dnnl.hpp')) return log('not building the addon: oneDNN headers are missing (apt-get install libdnnl-dev); the engine will use wasm');
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const gyp = [
    path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].find(existsSync);
  if (!gyp) return log(`not building the addon: npm's node-gyp was not found under ${prefix}; the engine will use wasm`);
  // Node's own headers when installed (offline); otherwise node-gyp downloads them.
  const nodedir = existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  log('building the oneDNN addon (node-gyp)');
  const r = spawnSync(process.execPath, [gyp, 'rebuild', ...nodedir, '--loglevel=warn'], { cwd: here, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0 || !existsSync(out)) return log(`the addon did not build (node-gyp exit ${r.status}); the engine will use wasm`);
  const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(out)}).info()`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (check.status !== 0) return log(`the addon built but does not load: ${check.stderr.split('\n')[0]}; the engine will use wasm`);
  log('built');
}

main();
