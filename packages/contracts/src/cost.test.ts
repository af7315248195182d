import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { ExperimentSpec } from './spec.ts';
import { parseEnv } from './env.ts';
import { predictionCostIssues, stepMemoryMB, trainingCostIssues, voxelSteps } from './cost.ts';
import { applyModelDefaults } from './rules.ts';

const limits = parseEnv({ DATABASE_URL: 'x', REDIS_URL: 'x', S3_ENDPOINT: 'x' });
const spec = (over: Record<string, unknown>) => Value.Default(ExperimentSpec, applyModelDefaults({ dataset: 'd', model: 'unet', epochs: 5, lr: 0.001, ...over })) as ExperimentSpec;

describe('training cost', () => {
  it('estimates the measured step of docs/engine.md (4 levels, 16 filters, 256², batch 4: 0.57 GB) within 25 %', () => {
    const mb = stepMemoryMB(spec({ depth: 4, baseFilters: 16, tileSize: 256, batchSize: 4 }));
    expect(mb).toBeGreaterThan(570 * 0.75);
    expect(mb).toBeLessThan(570 * 1.25);
  });

  it('grows with every field it depends on', () => {
    const base = spec({});
    for (const over of [{ tileSize: 128 }, { batchSize: 8 }, { baseFilters: 16 }, { depth: 4 }, { slices: 3 }, { model: 'attention-unet' }, { encoder: 'resnext50' }]) {
      expect(stepMemoryMB(spec(over)), JSON.stringify(over)).toBeGreaterThan(stepMemoryMB(base));
    }
    expect(voxelSteps(spec({ epochs: 10, stepsPerEpoch: 20, batchSize: 4, tileSize: 64, slices: 3, model: 'unet25d' }))).toBe(10 * 20 * 4 * 64 * 64 * 3);
  });

  it('allows every spec the tests, the demo and the benchmarks submit', () => {
    const used = [
      { epochs: 2, lr: 0.003, augmentationP: 0.2, batchSize: 2, tileSize: 32, stepsPerEpoch: 3, baseFilters: 4, depth: 2 }, // test/harness tinySpec
      { epochs: 50, stepsPerEpoch: 10, batchSize: 2, tileSize: 32, baseFilters: 4, depth: 2 }, // e2e cancel
      { epochs: 4, batchSize: 4, tileSize: 64, stepsPerEpoch: 20, baseFilters: 8, depth: 3 }, // demo sweep
      { epochs: 30, stepsPerEpoch: 40, tileSize: 96, batchSize: 4, baseFilters: 16, depth: 4 }, // bench drive-train
      { model: 'unet25d', slices: 3, epochs: 8, stepsPerEpoch: 30, tileSize: 96, batchSize: 4, baseFilters: 12, depth: 4 }, // bench vesselnn-train
      { epochs: 1000 }, // the schema's most epochs at the default size
      { tileSize: 512, batchSize: 16, baseFilters: 32, depth: 5, epochs: 100, stepsPerEpoch: 1000 }, // a large GPU run
    ];
    for (const over of used) expect(trainingCostIssues(spec(over), limits), JSON.stringify(over)).toEqual([]);
  });

  it('refuses tile 1024 x batch 64 x 128 filters, stating the estimate and the limit and naming the field', () => {
    const issues = trainingCostIssues(spec({ tileSize: 1024, batchSize: 64, baseFilters: 128 }), limits);
    expect(issues).toHaveLength(1);
    expect(issues[0].field).toBe('/tileSize');
    expect(issues[0].message).toMatch(/estimated [\d,]+ MB/);
    expect(issues[0].message).toContain(`the limit is ${limits.MAX_STEP_MEMORY_MB.toLocaleString('en-US')} MB (MAX_STEP_MEMORY_MB)`);
    const mb = Number(/estimated ([\d,]+) MB/.exec(issues[0].message)![1].replace(/,/g, ''));
    // The first activation alone: 64 x 1024² x 128 float32.
    expect(mb).toBeGreaterThan((64 * 1024 ** 2 * 128 * 4) / 2 ** 20);
  });

  it('refuses 1000 epochs x 100,000 steps by voxel-steps, naming the heaviest field', () => {
    const issues = trainingCostIssues(spec({ epochs: 1000, stepsPerEpoch: 100_000 }), limits);
    expect(issues.map((i) => i.field)).toEqual(['/stepsPerEpoch']);
    expect(issues[0].message).toContain('1.64e+12 voxel-steps');
    expect(issues[0].message).toContain('(MAX_VOXEL_STEPS)');
  });

  it('prefixes the field for sweeps and bodies', () => {
    expect(trainingCostIssues(spec({ epochs: 1000, stepsPerEpoch: 100_000 }), limits, '/experiments/3')[0].field).toBe('/experiments/3/stepsPerEpoch');
  });
});

describe('prediction cost', () => {
  const small = { ...limits, MAX_PREDICTION_VOXEL_PASSES: 1000 };
  it('is voxels x axes x 4 with TTA', () => {
    expect(predictionCostIssues(100, { axes: ['xy', 'xz'], tta: true }, small)).toEqual([]);
    const [issue] = predictionCostIssues(200, { axes: ['xy', 'xz'], tta: true }, small, 'body');
    expect(issue.field).toBe('body/options/tta');
    expect(issue.message).toContain('1,600 voxel passes (200 voxels x 2 axes x 4 TTA passes); the limit is 1,000');
  });
  it('names the axes, then the dataset, when they are what is too large', () => {
    expect(predictionCostIssues(400, { axes: ['xy', 'xz', 'yz'], tta: false }, small)[0].field).toBe('/options/axes');
    expect(predictionCostIssues(4000, { axes: ['xy'], tta: false }, small)[0].field).toBe('/dataset');
  });
});
