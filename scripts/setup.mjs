#!/usr/bin/env node
// One-time set-up on a fresh Debian machine, repeated cheaply: Debian packages, npm dependencies,
// the generated Prisma client. Plain JavaScript because it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installDebianPackages, missingDebianPackages } from '../packages/devstack/debian.mjs';

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
const apt = installDebianPackages(missingDebianPackages(packages), {
  recommends: false,
  announce: (missing) => log(`installing ${missing.join(' ')}`),
});
if (apt.outcome === 'not-root') {
  console.error(`Missing Debian packages. As root run: ${apt.command}`);
  process.exit(1);
}
if (apt.outcome === 'failed') process.exit(1); // apt-get has said why

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
const onednnMissing = missingDebianPackages(onednnPackages);
const onednn = installDebianPackages(onednnMissing, {
  recommends: false,
  announce: (missing) => log(`installing ${missing.join(' ')} (oneDNN backend)`),
});
if (onednn.outcome === 'not-root') log(`the oneDNN backend needs: apt-get install -y ${onednnMissing.join(' ')} (as root); the engine uses wasm meanwhile`);
if (onednn.outcome === 'failed') log('could not install them; the engine uses wasm');
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
