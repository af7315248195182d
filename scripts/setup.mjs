#!/usr/bin/env node
// One-time set-up on a fresh Debian machine, repeated cheaply: Debian packages, npm dependencies,
// the generated Prisma client. Plain JavaScript because it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (m) => console.error(`[setup] ${m}`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });

// Debian packages: the local stack's servers, the browser for UI tests, compose for validating
// docker-compose.yml, kubectl for rendering infra/k8s (kustomize), Prometheus and promtool for
// testing infra/monitoring. Each is checked by a file it installs.
const packages = {
  'redis-server': '/usr/bin/redis-server',
  'postgresql-15': '/usr/lib/postgresql/15/bin/initdb',
  'postgresql-client-15': '/usr/bin/psql',
  chromium: '/usr/bin/chromium',
  'docker-compose': '/usr/bin/docker-compose',
  kubectl: '/usr/bin/kubectl',
  prometheus: '/usr/bin/promtool',
};
const missing = Object.entries(packages).filter(([, f]) => !existsSync(f)).map(([p]) => p);
if (missing.length) {
  if (process.getuid?.() !== 0) {
    console.error(`Missing Debian packages. As root run: apt-get update && apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  log(`installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || mtime(lock) > mtime(installed)) {
  log('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// Optional: the engine's oneDNN backend (native convolutions). Installed apart from the packages
// above, so a machine whose Debian lacks them still sets up (the engine then uses wasm).
const onednnPackages = { 'libdnnl-dev': '/usr/include/oneapi/dnnl/dnnl.hpp', 'g++': '/usr/bin/g++', make: '/usr/bin/make' };
const onednnMissing = Object.entries(onednnPackages).filter(([, f]) => !existsSync(f)).map(([p]) => p);
if (onednnMissing.length) {
  if (process.getuid?.() !== 0) log(`the oneDNN backend needs: apt-get install -y ${onednnMissing.join(' ')} (as root); the engine uses wasm meanwhile`);
  else {
    log(`installing ${onednnMissing.join(' ')} (oneDNN backend)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const r = [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...onednnMissing]].reduce(
      (prev, args) => (prev.status === 0 ? spawnSync('apt-get', args, { stdio: 'inherit', env }) : prev),
      { status: 0 },
    );
    if (r.status !== 0) log('could not install them; the engine uses wasm');
  }
}
run(process.execPath, [path.join(root, 'packages', 'engine', 'native', 'build.mjs')]);

const schema = path.join(root, 'prisma', 'schema.prisma');
const client = path.join(root, 'packages', 'db', 'generated', 'client.ts');
if (mtime(schema) > mtime(client)) {
  log('generating the Prisma client');
  const r = spawnSync(path.join(root, 'node_modules', '.bin', 'prisma'), ['generate'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    // generate does not connect; the adapter config only needs a syntactically valid URL.
    env: { ...process.env, DATABASE_URL: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:1/none' },
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
