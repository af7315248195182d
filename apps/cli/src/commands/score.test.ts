import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const bin = path.join(repoRoot, 'apps/cli/bin/capillary.mjs');
const casesDir = path.join(repoRoot, '../shared/metric-cases');
const haveCases = existsSync(casesDir);
if (!haveCases) console.warn(`metric-cases not found at ${casesDir}: skipping the CLI check on a reference case`);

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [bin, 'score', ...args], { cwd: repoRoot }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe.runIf(haveCases)('capillary score on a reference case', () => {
  it('prints score and perImage as JSON', async () => {
    const dir = path.join(casesDir, 'random_03');
    const { code, stdout } = await run('--solution', path.join(dir, 'solution.csv'), '--submission', path.join(dir, 'submission.csv'));
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(Object.keys(out)).toEqual(['score', 'perImage']);
    expect(out.score).toBeCloseTo(0.8549957275390625, 5);
    expect(out.perImage.kidney_1).toBeCloseTo(0.7173289656639099, 5);
  });
});

describe('capillary score', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'capillary-score-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const solution = path.join(dir, 'solution.csv');
  writeFileSync(solution, 'id,rle,width,height,image,slice\nv_0000,1 0,2,2,v,0\nw_0000,1 2,2,2,w,0\n');

  it('adds reasons for null scores', async () => {
    const sub = path.join(dir, 'sub.csv');
    writeFileSync(sub, 'id,rle\nv_0000,1 0\nw_0000,1 2\n');
    const { code, stdout } = await run('--solution', solution, '--submission', sub);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ score: 1, perImage: { v: null, w: 1 }, reasons: { v: expect.stringMatching(/empty/) } });
  });

  it('exits non-zero naming the file on bad input', async () => {
    const sub = path.join(dir, 'bad.csv');
    writeFileSync(sub, 'id,rle\nv_0000,1 0\nw_0000,1 2 3\n');
    const { code, stdout, stderr } = await run('--solution', solution, '--submission', sub);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toContain(`${sub}: line 3: bad RLE for "w_0000"`);
  });
});
