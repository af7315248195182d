import { describe, expect, it } from 'vitest';
import { Validator, parseEnv, SweepSpec } from '@capillary/contracts';
import { expandSweep, nextTpeTrial, sampleTrial, tpeParallelism } from './strategies.ts';

const limits = parseEnv({ DATABASE_URL: 'x', REDIS_URL: 'x', S3_ENDPOINT: 'x' });
const base = { dataset: 'd', model: 'unet' as const, epochs: 10, lr: 0.001 };
const space = { lr: { loguniform: [1e-4, 1e-2] }, augmentationP: { uniform: [0, 1] }, epochs: { int: [5, 30] }, model: { choice: ['unet', 'unet25d'] } };
const body = new Validator('sweep', SweepSpec);

describe('grid strategy (the default)', () => {
  it('expands as before when no strategy is named', () => {
    const { trials, issues } = expandSweep({ name: 's', base, grid: { lr: [0.001, 0.01], seed: [1, 2] } }, limits);
    expect(issues).toEqual([]);
    expect(trials.map((t) => [t.index, t.spec.lr, t.spec.seed])).toEqual([[0, 0.001, 1], [1, 0.001, 2], [2, 0.01, 1], [3, 0.01, 2]]);
  });

  it('refuses the fields of other strategies, naming them', () => {
    const { issues } = expandSweep({ name: 's', base, grid: { lr: [0.1] }, trials: 3 }, limits);
    expect(issues).toEqual([{ field: '/trials', message: 'is not used by a grid sweep' }]);
    expect(expandSweep({ name: 's', base }, limits).issues).toEqual([{ field: '/grid', message: 'is required for a grid sweep' }]);
  });
});

describe('random strategy', () => {
  const random = (over: object = {}) => ({ name: 'r', base, strategy: 'random' as const, trials: 20, space, seed: 7, ...over }) as SweepSpec;

  it('the issue body validates as it stands', () => {
    expect(body.issues({ name: 'r', base, strategy: 'random', trials: 5, space })).toEqual([]);
  });

  it('draws every field inside its distribution, and specs are full', () => {
    const { trials, issues } = expandSweep(random(), limits);
    expect(issues).toEqual([]);
    expect(trials).toHaveLength(20);
    for (const { spec } of trials) {
      expect(spec.lr).toBeGreaterThanOrEqual(1e-4);
      expect(spec.lr).toBeLessThanOrEqual(1e-2);
      expect(spec.augmentationP).toBeGreaterThanOrEqual(0);
      expect(spec.augmentationP).toBeLessThanOrEqual(1);
      expect(Number.isInteger(spec.epochs) && spec.epochs >= 5 && spec.epochs <= 30).toBe(true);
      expect(['unet', 'unet25d']).toContain(spec.model);
      // unet25d gets its model defaults (slices) like any spec.
      if (spec.model === 'unet25d') expect(spec.slices).toBeGreaterThan(1);
    }
    // Log-uniform: about half the draws below the geometric middle 1e-3, not ~10% as uniform would give.
    const below = trials.filter((t) => t.spec.lr < 1e-3).length;
    expect(below).toBeGreaterThan(4);
    expect(new Set(trials.map((t) => t.spec.model)).size).toBe(2);
  });

  it('is reproducible from the sweep seed, and another seed draws other trials', () => {
    const a = expandSweep(random(), limits).trials.map((t) => t.spec);
    const b = expandSweep(random(), limits).trials.map((t) => t.spec);
    const c = expandSweep(random({ seed: 8 }), limits).trials.map((t) => t.spec);
    expect(b).toEqual(a);
    expect(c.map((s) => s.lr)).not.toEqual(a.map((s) => s.lr));
  });

  it('an extension draws exactly the trials a larger first request would have', () => {
    const all = expandSweep(random({ trials: 8 }), limits).trials;
    const first = expandSweep(random({ trials: 5 }), limits).trials;
    const more = expandSweep(random({ trials: 5 }), limits, { from: 5, count: 3 }).trials;
    expect([...first, ...more]).toEqual(all);
    expect(sampleTrial(space as never, 7, 6)).toEqual(Object.fromEntries(Object.keys(space).map((k) => [k, (all[6].spec as Record<string, unknown>)[k]])));
  });

  it('refuses bad distributions naming the field (schema and bounds)', () => {
    const schemaIssues = body.issues(random({ space: { lr: { loguniform: [0, 1e-2] } } }));
    expect(schemaIssues.map((i) => i.field)).toContain('/space/lr/loguniform/0');
    expect(body.issues(random({ space: { lr: { loguniform: [1e-4] } } })).map((i) => i.field)).toContain('/space/lr/loguniform');
    expect(body.issues(random({ space: { lr: { uniform: [0, 1], loguniform: [0.1, 0.2] } } })).map((i) => i.field)).toContain('/space/lr');
    expect(body.issues(random({ space: { learningRate: { uniform: [0, 1] } } })).map((i) => i.field)).toContain('/space/learningRate');
    const issues = (over: object) => expandSweep(random(over), limits).issues;
    expect(issues({ space: { lr: { loguniform: [1e-2, 1e-4] } } })).toEqual([{ field: '/space/lr/loguniform', message: 'low (0.01) must be below high (0.0001)' }]);
    expect(issues({ space: { lr: { loguniform: [1e-4, 2] } } })).toEqual([{ field: '/space/lr/loguniform', message: '2 is not a valid lr' }]);
    expect(issues({ space: { model: { choice: ['unet', 'vgg'] } } })).toEqual([{ field: '/space/model/choice/1', message: '"vgg" is not a valid model' }]);
    expect(issues({ space: { lr: { int: [1, 2] } } })[0]).toMatchObject({ field: '/space/lr/int' });
    expect(issues({ space: { batchSize: { uniform: [1, 8] } } })).toEqual([{ field: '/space/batchSize/uniform', message: 'batchSize is an integer field: use int or choice' }]);
    expect(issues({ trials: undefined })).toEqual([{ field: '/trials', message: 'is required for a random sweep' }]);
    expect(issues({ grid: { lr: [0.1] } })).toEqual([{ field: '/grid', message: 'is not used by a random sweep' }]);
    expect(issues({ trials: 400, seed: 1 }).length).toBe(0);
    expect(expandSweep(random({ trials: 400 }), limits, { from: 400, count: 200 }).issues).toEqual([{ field: '/trials', message: 'the sweep would hold 600 trials; at most 500' }]);
  });
});

describe('asha strategy', () => {
  const asha = { minEpochs: 1, reductionFactor: 3, maxEpochs: 9 };
  const baseNoEpochs = { dataset: 'd', model: 'unet' as const, lr: 0.001 };

  it('samples trials that all train toward maxEpochs', () => {
    const sweep = { name: 'a', base: baseNoEpochs, strategy: 'asha', asha, trials: 6, space: { lr: space.lr } } as SweepSpec;
    expect(body.issues(sweep)).toEqual([]);
    const { trials, issues } = expandSweep(sweep, limits);
    expect(issues).toEqual([]);
    expect(trials.map((t) => t.spec.epochs)).toEqual([9, 9, 9, 9, 9, 9]);
    // The same space and seed as a random sweep: the same learning rates.
    const random = expandSweep({ name: 'r', base: { ...baseNoEpochs, epochs: 9 }, strategy: 'random', trials: 6, space: { lr: space.lr } } as SweepSpec, limits);
    expect(trials.map((t) => t.spec.lr)).toEqual(random.trials.map((t) => t.spec.lr));
  });

  it('takes a grid in place of trials and space', () => {
    const { trials, issues } = expandSweep({ name: 'a', base: baseNoEpochs, strategy: 'asha', asha, grid: { lr: [0.001, 0.01], seed: [1, 2] } }, limits);
    expect(issues).toEqual([]);
    expect(trials).toHaveLength(4);
    expect(trials.every((t) => t.spec.epochs === 9)).toBe(true);
  });

  it('refuses what ASHA cannot run, naming the field', () => {
    const issues = (over: object) => expandSweep({ name: 'a', base: baseNoEpochs, strategy: 'asha', asha, trials: 3, space: { lr: space.lr }, ...over } as SweepSpec, limits).issues;
    expect(issues({ asha: undefined })).toEqual([{ field: '/asha', message: 'is required for a asha sweep' }]);
    expect(issues({ asha: { ...asha, minEpochs: 9 } })).toEqual([{ field: '/asha/minEpochs', message: 'must be below asha.maxEpochs (9): there would be no rung to stop at' }]);
    expect(issues({ space: { epochs: { int: [1, 9] } } })).toEqual([{ field: '/space/epochs', message: 'is set by asha.maxEpochs in an asha sweep' }]);
    expect(issues({ grid: { lr: [0.1] } })).toEqual([{ field: '/grid', message: 'an asha sweep takes either trials and space, or grid' }]);
    expect(issues({ trials: undefined, space: undefined })).toEqual([{ field: '/trials', message: 'an asha sweep needs trials and space, or grid' }]);
    expect(issues({ space: undefined })).toEqual([{ field: '/space', message: 'is required with trials' }]);
    expect(issues({ base: { ...baseNoEpochs, epochs: 5 } })).toEqual([{ field: '/base/epochs', message: 'is set by asha.maxEpochs (9) in an asha sweep; leave it out' }]);
    expect(body.issues({ name: 'a', base: baseNoEpochs, strategy: 'asha', asha: { ...asha, reductionFactor: 1 }, trials: 3, space: { lr: space.lr } }).map((i) => i.field)).toContain('/asha/reductionFactor');
  });
});

describe('tpe strategy', () => {
  const tpe = (over: object = {}) => ({ name: 't', base, strategy: 'tpe' as const, trials: 16, space, seed: 7, tpe: { startupTrials: 4 }, ...over }) as SweepSpec;

  it('validates, and starts with its random startup trials: those a random sweep of the same seed draws', () => {
    expect(body.issues(tpe())).toEqual([]);
    const { trials, issues } = expandSweep(tpe(), limits);
    expect(issues).toEqual([]);
    expect(trials).toHaveLength(4);
    expect(trials.map((t) => t.spec)).toEqual(expandSweep({ ...tpe(), strategy: 'random', tpe: undefined, trials: 4 }, limits).trials.map((t) => t.spec));
    expect(tpeParallelism(tpe({ trials: 3 }))).toBe(3);
    expect(tpeParallelism(tpe({ tpe: undefined }))).toBe(10);
  });

  it('refuses a grid and ASHA settings, and tpe settings on other strategies', () => {
    expect(expandSweep(tpe({ grid: { lr: [0.1] } }), limits).issues).toContainEqual({ field: '/grid', message: 'is not used by a tpe sweep' });
    expect(expandSweep({ name: 'r', base, strategy: 'random', trials: 2, space, tpe: { startupTrials: 1 } } as SweepSpec, limits).issues).toContainEqual({ field: '/tpe', message: 'is not used by a random sweep' });
  });

  it('decides a later trial from the finished ones: the same finished trials give the same spec, better scores pull it their way', () => {
    const start = expandSweep(tpe(), limits).trials;
    // lr near 1e-4 scores well, near 1e-2 badly.
    const finished = start.map((t) => ({ spec: t.spec as unknown as Record<string, unknown>, score: 1 - Math.log10(t.spec.lr / 1e-4) / 2 }));
    const a = nextTpeTrial(tpe(), 4, finished, limits);
    expect(a.issues).toEqual([]);
    expect(nextTpeTrial(tpe(), 4, finished, limits).trial).toEqual(a.trial);
    expect(a.trial!.index).toBe(4);
    expect(a.trial!.spec.dataset).toBe('d');
    const later = Array.from({ length: 12 }, (_, i) => nextTpeTrial(tpe(), 4 + i, finished, limits).trial!.spec.lr);
    const low = later.filter((lr) => lr < 1e-3).length;
    expect(low).toBeGreaterThan(later.length / 2);
  });
});
