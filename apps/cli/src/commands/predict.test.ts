import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const bin = path.join(repoRoot, 'apps/cli/bin/capillary.mjs');

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [bin, ...args], { cwd: repoRoot }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('capillary predict and export refuse bad input, naming the option, and write nothing', () => {
  it('an unknown experiment', async () => {
    const before = await prisma().prediction.count();
    const r = await run('predict', '--experiment', randomUUID(), '--dataset', 'any');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--experiment: no experiment/);
    expect(await prisma().prediction.count()).toBe(before);
  });

  it('an axis that does not exist', async () => {
    const r = await run('predict', '--experiment', randomUUID(), '--dataset', 'any', '--axes', 'xy,zz');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/prediction options is invalid: \/axes/);
  });

  it('a percentile threshold or predict scale out of range', async () => {
    const a = await run('predict', '--experiment', randomUUID(), '--dataset', 'any', '--positive-fraction', '1.5');
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/prediction options is invalid: \/positiveFraction/);
    const b = await run('predict', '--experiment', randomUUID(), '--dataset', 'any', '--predict-scale', '0');
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/prediction options is invalid: \/predictScale/);
    const c = await run('predict', '--experiment', randomUUID(), '--dataset', 'any', '--pseudo-labels', 'no spaces');
    expect(c.code).not.toBe(0);
    expect(c.stderr).toMatch(/prediction options is invalid: \/pseudoLabelDataset/);
  });

  it('a CSV export without a prediction, and of an unknown prediction', async () => {
    const a = await run('export', '--format', 'csv', '--out', '/tmp/never.csv');
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/--format csv needs --prediction/);
    const b = await run('export', '--format', 'csv', '--prediction', randomUUID(), '--out', '/tmp/never.csv');
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/--prediction: no prediction/);
  });
});
