import { describe, expect, it } from 'vitest';
import { MAX_SWEEP_SIZE, parseEnv, type SweepGrid, type SweepSpec } from '@capillary/contracts';
import { expandGrid, gridShapeIssues, sweepSize } from './grid.ts';

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
const limits = parseEnv({ DATABASE_URL: 'x', REDIS_URL: 'x', S3_ENDPOINT: 'x' });
const sweep = (grid: SweepGrid, base: SweepSpec['base'] = { dataset: 'd', model: 'unet', epochs: 2, lr: 0.001 }): SweepSpec & { grid: SweepGrid } => ({ name: 's', base, grid });

describe('sweep grid', () => {
  it('knows its size from the list lengths alone', () => {
    expect(sweepSize({})).toBe(1);
    expect(sweepSize({ epochs: range(50, (i) => i + 1), lr: range(50, (i) => (i + 1) / 1000), seed: range(50, (i) => i), batchSize: range(10, (i) => i + 1) })).toBe(1_250_000);
  });

  it('refuses 62.5 million combinations at once, without building one', () => {
    const huge = sweep({ epochs: range(50, (i) => i + 1), lr: range(50, (i) => (i + 1) / 1000), augmentationP: range(50, (i) => i / 50), seed: range(50, (i) => i), batchSize: range(10, (i) => i + 1) });
    const t0 = performance.now();
    const { specs, issues } = expandGrid(huge, limits);
    expect(performance.now() - t0).toBeLessThan(50);
    expect(specs).toEqual([]);
    expect(issues).toEqual([{ field: '/grid', message: `expands to 62500000 experiments (epochs 50 x lr 50 x augmentationP 50 x seed 50 x batchSize 10); at most ${MAX_SWEEP_SIZE}` }]);
  });

  it('names each repeated value by its place in its list', () => {
    expect(gridShapeIssues({ lr: [0.1, 0.2, 0.1], seed: [1, 2], validationVolumes: [['a', 'b'], ['b', 'a']] })).toEqual([
      { field: '/grid/lr/2', message: 'repeats the value at /grid/lr/0 (0.1); each value may be listed once' },
      { field: '/grid/validationVolumes/1', message: 'repeats the value at /grid/validationVolumes/0 (["a","b"]); each value may be listed once' },
    ]);
  });

  it('expands within the limit, every cell a full spec', () => {
    const { specs, issues } = expandGrid(sweep({ lr: [0.001, 0.01], seed: [1, 2, 3] }), limits);
    expect(issues).toEqual([]);
    expect(specs).toHaveLength(6);
    expect(specs.map((s) => `${s.lr}/${s.seed}`)).toEqual(['0.001/1', '0.001/2', '0.001/3', '0.01/1', '0.01/2', '0.01/3']);
    expect(specs[0].tileSize).toBe(64);
  });

  it('lists model width, tile size, steps and loss like any other field', () => {
    const { specs, issues } = expandGrid(sweep({ baseFilters: [16, 32], tileSize: [96, 128], loss: ['bce-dice', { bce: 1, dice: 1, surfaceDice: 0.5 }] }), limits);
    expect(issues).toEqual([]);
    expect(specs.map((s) => `${s.baseFilters}/${s.tileSize}/${JSON.stringify(s.loss)}`)).toEqual([
      '16/96/"bce-dice"', '16/96/{"bce":1,"dice":1,"surfaceDice":0.5}', '16/128/"bce-dice"', '16/128/{"bce":1,"dice":1,"surfaceDice":0.5}',
      '32/96/"bce-dice"', '32/96/{"bce":1,"dice":1,"surfaceDice":0.5}', '32/128/"bce-dice"', '32/128/{"bce":1,"dice":1,"surfaceDice":0.5}',
    ]);
    expect(specs[0].stepsPerEpoch).toBe(20);
  });

  it('names the grid field that puts a cell over budget, once', () => {
    const { issues } = expandGrid(sweep({ epochs: [10, 1000, 999] }, { dataset: 'd', model: 'unet', lr: 0.001, stepsPerEpoch: 100_000 }), { ...limits, MAX_VOXEL_STEPS: 1e11 });
    expect(issues).toHaveLength(1);
    expect(issues[0].field).toBe('/base/stepsPerEpoch');
    const byGrid = expandGrid(sweep({ batchSize: [4, 64] }, { dataset: 'd', model: 'unet', lr: 0.001, epochs: 2, tileSize: 1024, baseFilters: 128 }), limits).issues;
    expect(byGrid.map((i) => i.field)).toEqual(['/base/tileSize']);
    expect(byGrid[0].message).toMatch(/estimated [\d,]+ MB .*limit is 32,768 MB \(MAX_STEP_MEMORY_MB\) \(experiment 0 of the grid\)/);
  });
});
