// The import rules (.dependency-cruiser.cjs) hold on the whole tree, and each rule refuses what it is
// there to refuse: files planted for one check each, removed afterwards.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@capillary/devstack';

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

interface CruiseResult {
  modules: { source: string; dependencies: { module: string }[] }[];
  summary: { violations: Violation[] };
}

const run = promisify(execFile);
const DEPCRUISE = path.join(REPO_ROOT, 'node_modules/.bin/depcruise');

/** Cruises `targets` (paths relative to the repository) with the project's rules. */
async function cruise(targets: string[]): Promise<CruiseResult> {
  const { stdout } = await run(DEPCRUISE, ['--config', '.dependency-cruiser.cjs', '--output-type', 'json', ...targets], { cwd: REPO_ROOT, maxBuffer: 256 * 1024 * 1024 }).catch(
    // depcruise exits non-zero when it finds errors; its report is still on stdout.
    (e: { stdout?: string }) => {
      if (!e.stdout) throw e;
      return { stdout: e.stdout };
    },
  );
  return JSON.parse(stdout) as CruiseResult;
}

/** `workspace -> imported @capillary package` pairs that the workspace's package.json does not declare. */
function undeclaredWorkspaces(result: CruiseResult): string[] {
  const undeclared = new Set<string>();
  for (const m of result.modules) {
    const ws = /^((?:apps|packages)\/[^/]+)\//.exec(m.source)?.[1];
    if (!ws) continue;
    const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, ws, 'package.json'), 'utf8')) as Record<string, Record<string, string> | string | undefined>;
    const declared = { ...(manifest.dependencies as object), ...(manifest.devDependencies as object) };
    for (const d of m.dependencies) {
      const pkg = /^@capillary\/[^/]+/.exec(d.module)?.[0];
      if (pkg && pkg !== manifest.name && !(pkg in declared)) undeclared.add(`${ws} -> ${pkg}`);
    }
  }
  return [...undeclared];
}

const planted: string[] = [];
/** Writes a planted source file (relative to the repository) for the duration of this file's tests. */
function plant(file: string, source: string): string {
  writeFileSync(path.join(REPO_ROOT, file), source);
  planted.push(file);
  return file;
}
afterAll(() => {
  for (const f of planted) rmSync(path.join(REPO_ROOT, f), { force: true });
});

const tag = randomUUID().slice(0, 8);

describe('import rules', () => {
  it('hold on the whole tree, and every workspace declares the workspaces it imports', async () => {
    const result = await cruise(['apps', 'packages', 'test', 'bench', 'scripts']);
    expect(result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
    expect(result.modules.length).toBeGreaterThan(300);
    expect(undeclaredWorkspaces(result)).toEqual([]);
  }, 120_000);

  it.each([
    ['a subpath outside the package face', `packages/engine/src/planted-${tag}.ts`, `export { Rng } from '${'@capillary/volumes'}/rng';\n`, 'not-to-unresolvable'],
    ['a relative path into another package', `packages/engine/src/planted-${tag}.ts`, `export { Rng } from '${'../../volumes/src'}/rng.ts';\n`, 'no-relative-path-into-another-workspace'],
    ['a relative path from a test into a package', `test/planted-${tag}.ts`, `export { buildApp } from '${'../apps/api/src'}/app.ts';\n`, 'no-relative-path-into-a-workspace'],
    ['an arrow back up the layers', `packages/volumes/src/planted-${tag}.ts`, `export { train } from '@capillary/engine';\n`, 'layer:packages/volumes'],
    ['an undeclared dependency', `packages/contracts/src/planted-${tag}.ts`, `export { default as pLimit } from 'p-limit';\n`, 'declared-dependencies'],
  ])('refuse %s', async (_what, file, source, rule) => {
    plant(file, source);
    try {
      const { summary } = await cruise([file]);
      expect(summary.violations.map((v) => v.rule.name)).toContain(rule);
    } finally {
      rmSync(path.join(REPO_ROOT, file), { force: true });
    }
  }, 60_000);

  it('refuse an undeclared workspace', async () => {
    const file = plant(`packages/metric/src/planted-${tag}.ts`, `export { env } from '@capillary/contracts';\n`);
    expect(undeclaredWorkspaces(await cruise([file]))).toEqual(['packages/metric -> @capillary/contracts']);
  }, 60_000);

  it('refuse a circle', async () => {
    const a = plant(`packages/queue/src/planted-a-${tag}.ts`, `import { b } from './planted-b-${tag}.ts';\nexport const a = () => b;\n`);
    const b = plant(`packages/queue/src/planted-b-${tag}.ts`, `import { a } from './planted-a-${tag}.ts';\nexport const b = () => a;\n`);
    const { summary } = await cruise([a, b]);
    const circles = summary.violations.filter((v) => v.rule.name === 'no-circular');
    expect(circles.length).toBeGreaterThan(0);
    for (const c of circles) expect([a, b]).toContain(c.from);
  }, 60_000);
});
