// `npm run bench -- <name> [args]` runs bench/<name>.ts in a child process; each prints one JSON
// object on its last line. The bench stack that a benchmark starts is stopped again when it ends
// (also on Ctrl-C); one that was running before is left as it was.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackDown, stackProfile, stackStatus } from '@capillary/devstack';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>\navailable: ${available.join(', ')}`);
  process.exit(2);
}

const profile = stackProfile('bench');
const before = await stackStatus(profile);
const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`), ...process.argv.slice(3)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const code = await new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
const after = await stackStatus(profile);
const startedHere = (Object.keys(after) as (keyof typeof after)[]).some((k) => before[k] === 'stopped' && after[k] === 'running');
if (startedHere) await stackDown(profile, (l) => console.error(`[bench] stack: ${l}`));
process.exit(code);
