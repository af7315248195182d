// Issue 25, Build 3: the spec's rules have one home (packages/contracts rules.ts) that the API, the
// engine and the sampler all call. Every rule is tried through the API at each of its limits: the spec
// just outside is a 400 naming its field, and the engine and sampler refuse it too; the spec just
// inside is accepted, and the very spec the API stored trains for a step. So anything the API accepts
// a worker can run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ExperimentSpec, Validator } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { selectBackend, train } from '@capillary/engine';
import { generateSyntheticVolume, TileSampler } from '@capillary/volumes';
import { startApi, type RunningApi } from './harness.ts';

type Over = Record<string, unknown>;

/** A spec just outside a rule's limit, the field its refusal must name, and who refuses it. */
interface Outside {
  over: Over;
  field: string;
  /** `schema`: the JSON schema already refuses it; `rule`: it passes the schema and only the rules catch it. */
  by: 'schema' | 'rule';
  /** The sampler reads this field, so it refuses the spec's sampling options as well. */
  sampled?: true;
}

interface Rule {
  rule: string;
  inside: Over[];
  outside: Outside[];
}

// The schema only allows tiles in multiples of 16, so below depth 6 (stride 32) every tile it
// accepts divides by the stride; a tile off the stride at depth 3 or 4 is the schema's to refuse.
const RULES: Rule[] = [
  {
    rule: 'tileSize divides by the network stride 2^(depth-1)',
    inside: [{ depth: 2, tileSize: 16 }, { depth: 3, tileSize: 16 }, { depth: 4, tileSize: 16 }, { depth: 5, tileSize: 16 }, { depth: 6, tileSize: 32 }, { depth: 6, tileSize: 1024 }],
    outside: [
      { over: { depth: 3, tileSize: 18 }, field: 'tileSize', by: 'schema' },
      { over: { depth: 4, tileSize: 24 }, field: 'tileSize', by: 'schema' },
      { over: { depth: 6, tileSize: 16 }, field: 'tileSize', by: 'rule' },
      { over: { depth: 6, tileSize: 48 }, field: 'tileSize', by: 'rule' },
      { over: { depth: 6, tileSize: 1008 }, field: 'tileSize', by: 'rule' },
      { over: { depth: 7, tileSize: 64 }, field: 'depth', by: 'schema' },
      { over: { depth: 1 }, field: 'depth', by: 'schema' },
    ],
  },
  {
    rule: 'slices is odd',
    inside: [{ slices: 1 }, { slices: 3 }, { slices: 15 }],
    outside: [
      { over: { slices: 2 }, field: 'slices', by: 'rule', sampled: true },
      { over: { slices: 14 }, field: 'slices', by: 'rule', sampled: true },
      { over: { slices: 0 }, field: 'slices', by: 'schema' },
      { over: { slices: 16 }, field: 'slices', by: 'schema' },
    ],
  },
  {
    rule: 'unet25d stacks at least 3 slices',
    inside: [{ model: 'unet25d' }, { model: 'unet25d', slices: 3 }],
    outside: [{ over: { model: 'unet25d', slices: 1 }, field: 'slices', by: 'rule' }],
  },
  {
    rule: 'outputSlices is odd and at most slices',
    inside: [{ slices: 3, outputSlices: 1 }, { slices: 3, outputSlices: 3 }, { slices: 15, outputSlices: 15 }],
    outside: [
      { over: { slices: 3, outputSlices: 5 }, field: 'outputSlices', by: 'rule', sampled: true },
      { over: { slices: 1, outputSlices: 3 }, field: 'outputSlices', by: 'rule', sampled: true },
      { over: { slices: 3, outputSlices: 2 }, field: 'outputSlices', by: 'rule', sampled: true },
      { over: { outputSlices: 0 }, field: 'outputSlices', by: 'schema' },
      { over: { slices: 15, outputSlices: 17 }, field: 'outputSlices', by: 'schema' },
    ],
  },
  {
    rule: 'warmupEpochs is less than epochs',
    inside: [{ epochs: 1, warmupEpochs: 0 }, { epochs: 2, warmupEpochs: 1 }, { epochs: 1000, warmupEpochs: 999 }],
    outside: [
      { over: { epochs: 1, warmupEpochs: 1 }, field: 'warmupEpochs', by: 'rule' },
      { over: { epochs: 2, warmupEpochs: 2 }, field: 'warmupEpochs', by: 'rule' },
      { over: { epochs: 1000, warmupEpochs: 1000 }, field: 'warmupEpochs', by: 'rule' },
      { over: { warmupEpochs: -1 }, field: 'warmupEpochs', by: 'schema' },
    ],
  },
  {
    rule: 'a weighted loss has a positive term',
    inside: [{ loss: { dice: 1, bce: 0 } }, { loss: { boundary: 0.001 } }, { loss: { surfaceDice: 100 } }],
    outside: [
      { over: { loss: { dice: 0, bce: 0 } }, field: 'loss', by: 'rule' },
      { over: { loss: { focal: 0 } }, field: 'loss', by: 'rule' },
      { over: { loss: { dice: 100.5 } }, field: 'loss', by: 'schema' },
      { over: { loss: { dice: -0.1 } }, field: 'loss', by: 'schema' },
    ],
  },
  {
    rule: 'scaleRange is [min, max] with min <= max',
    inside: [{ scaleRange: [1, 1] }, { scaleRange: [0.25, 0.25] }, { scaleRange: [4, 4] }, { scaleRange: [0.25, 4] }],
    outside: [
      { over: { scaleRange: [1.01, 1] }, field: 'scaleRange', by: 'rule', sampled: true },
      { over: { scaleRange: [0.24, 1] }, field: 'scaleRange', by: 'schema' },
      { over: { scaleRange: [1, 4.01] }, field: 'scaleRange', by: 'schema' },
    ],
  },
  {
    rule: 'the sampler\'s ranges: probabilities, rotation angle, batch, axes',
    inside: [{ augmentationP: 0, rotation3dP: 0 }, { augmentationP: 1, rotation3dP: 1, rotation3dMaxDegrees: 180, axes: ['xy', 'xz', 'yz'] }],
    outside: [
      { over: { augmentationP: 1.01 }, field: 'augmentationP', by: 'schema' },
      { over: { augmentationP: -0.01 }, field: 'augmentationP', by: 'schema' },
      { over: { rotation3dP: 1.01 }, field: 'rotation3dP', by: 'schema' },
      { over: { rotation3dMaxDegrees: 0 }, field: 'rotation3dMaxDegrees', by: 'schema' },
      { over: { rotation3dMaxDegrees: 180.5 }, field: 'rotation3dMaxDegrees', by: 'schema' },
      { over: { batchSize: 0 }, field: 'batchSize', by: 'schema' },
      { over: { axes: [] }, field: 'axes', by: 'schema' },
    ],
  },
];

const db = prisma();
const dataset = `spec-rules-${randomUUID().slice(0, 8)}`;
/** The smallest spec that trains: every case changes only the fields of its rule. */
const body = (over: Over = {}) => ({ dataset, model: 'unet', epochs: 1, lr: 0.01, tileSize: 16, batchSize: 1, stepsPerEpoch: 1, baseFilters: 2, depth: 2, ...over });
const specValidator = new Validator('spec', ExperimentSpec);
const volume = generateSyntheticVolume({ shape: [16, 48, 48], seed: 25, id: 'spec-rules' });

/** Trains the spec for one step, as a worker would, and checks that the step happened. */
async function trainsOneStep(spec: ExperimentSpec) {
  const losses: number[] = [];
  const result = await train({ spec, train: [volume], validation: [], stopAfterEpoch: 1, onProgress: (p) => losses.push(p.loss), onEpoch: async () => undefined });
  expect(result.epochsRun).toBe(1);
  expect(losses).toHaveLength(1);
  expect(Number.isFinite(losses[0])).toBe(true);
}

/** The spec the API stored for an experiment: what a worker receives. */
const storedSpec = async (id: string) => (await db.experiment.findUniqueOrThrow({ where: { id } })).spec as unknown as ExperimentSpec;
const experimentCount = () => db.experiment.count({ where: { dataset: { name: dataset } } });

describe('one home for the spec\'s rules: what the API accepts trains, what it refuses names the field', () => {
  let api: RunningApi;
  const sweepIds: string[] = [];

  beforeAll(async () => {
    await selectBackend('wasm', 2);
    api = await startApi();
    const ds = await db.dataset.create({ data: { name: dataset } });
    // A volume row is all the API's checks read; training uses the in-memory volume.
    await db.volume.create({
      data: { datasetId: ds.id, name: 'v', role: 'train', imageKey: 'none/image', labelKey: 'none/label', dtype: 'uint8', depth: 16, height: 48, width: 48, voxelSizeUm: [1, 1, 1], stats: {}, contentHash: 'x' },
    });
  });
  afterAll(async () => {
    await api?.close();
    await db.experiment.deleteMany({ where: { dataset: { name: dataset } } });
    await db.sweep.deleteMany({ where: { id: { in: sweepIds } } });
    await db.dataset.deleteMany({ where: { name: dataset } });
  });

  /** Posts a spec the API must accept, cancels it so no worker of another test takes it, and returns what was stored. */
  async function accepted(over: Over): Promise<ExperimentSpec> {
    const res = await api.request('POST', '/experiments', body(over));
    expect(res.status, `${JSON.stringify(over)} -> ${JSON.stringify(res.body)}`).toBe(201);
    expect((await api.request('DELETE', `/experiments/${res.body.id}`)).status).toBeLessThan(300);
    return storedSpec(res.body.id);
  }

  it.each(RULES)('$rule: each spec just outside a limit is a 400 naming its field, and the engine and sampler refuse it too', async ({ outside }) => {
    const before = await experimentCount();
    for (const { over, field, by, sampled } of outside) {
      const what = JSON.stringify(over);
      const res = await api.request('POST', '/experiments', body(over));
      expect(res.status, `${what} -> ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.message, what).toContain(`/${field}`);
      if (by === 'schema') continue;
      // Past the schema only the shared rules stand between the spec and a worker.
      const spec = specValidator.parse(body(over));
      expect(res.body.issues.map((i: { field: string }) => i.field), what).toContain(`/${field}`);
      await expect(trainsOneStep(spec), what).rejects.toMatchObject({ name: 'SpecError', message: expect.stringContaining(field) });
      const sampling = () => new TileSampler({ volumes: [volume], ...spec });
      if (sampled) expect(sampling, what).toThrow(RangeError);
      if (sampled) expect(sampling, what).toThrow(field);
    }
    expect(await experimentCount()).toBe(before);
  });

  it.each(RULES)('$rule: each spec just inside a limit is accepted and trains for a step', async ({ inside }) => {
    for (const over of inside) await trainsOneStep(await accepted(over));
  });

  it('a tile off the network\'s stride is a 400 naming tileSize', async () => {
    const res = await api.request('POST', '/experiments', body({ depth: 6, tileSize: 48 }));
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ field: '/tileSize', message: '48 must be divisible by 32, the network\'s stride at depth 6' }]);
    expect(res.body.message).toContain('/tileSize 48 must be divisible by 32');
  });

  it('every spec a sweep expands to passes the same rules: a grid or sampled trial that breaks one is a 400 naming it', async () => {
    const before = await experimentCount();
    const refused: Array<[Over, string]> = [
      [{ name: 'stride-grid', base: body({ tileSize: 48 }), grid: { depth: [5, 6] } }, '/experiments/1/tileSize'],
      [{ name: 'stride-random', strategy: 'random', seed: 1, trials: 2, base: body({ tileSize: 48 }), space: { depth: { choice: [6] } } }, '/experiments/0/tileSize'],
      [{ name: 'out-grid', base: body({ slices: 1 }), grid: { outputSlices: [1, 3] } }, '/experiments/1/outputSlices'],
      [{ name: 'warmup-grid', base: body({ warmupEpochs: 1 }), grid: { epochs: [1, 2] } }, '/experiments/0/warmupEpochs'],
    ];
    for (const [sweep, field] of refused) {
      const res = await api.request('POST', '/sweeps', sweep);
      expect(res.status, `${sweep.name} -> ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.message, String(sweep.name)).toContain(field);
    }
    expect(await experimentCount()).toBe(before);
  });

  it('every spec of an accepted sweep at the stride limit trains for a step', async () => {
    const res = await api.request('POST', '/sweeps', { name: 'stride-limit', base: body({ tileSize: 32 }), grid: { depth: [5, 6] } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    sweepIds.push(res.body.id);
    const ids = (res.body.experiments as Array<{ id: string }>).map((e) => e.id);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect((await api.request('DELETE', `/experiments/${id}`)).status).toBeLessThan(300);
    for (const id of ids) await trainsOneStep(await storedSpec(id));
  });
});
