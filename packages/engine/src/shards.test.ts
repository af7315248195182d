import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryVolume } from '@capillary/volumes';
import { selectBackend } from './backend.ts';
import { SegmentationModel } from './models/unet.ts';
import { finishVolume, predictionGrid, predictPlaneRange, predictVolume, type PlaneAxis, type PredictOptions } from './predict.ts';
import { planShards, predictionCost, ShardedAxisSource, type ShardPlanes } from './shards.ts';
import { tubeVolume } from './testing/tubes.ts';

type Options = Omit<PredictOptions, 'onSlice'>;

/** Every mask slice and probability slice a prediction hands out, with its summary. */
async function collect(run: (onSlice: PredictOptions['onSlice']) => Promise<{ foregroundVoxels: number; threshold: number }>) {
  const masks: Uint8Array[] = [];
  const probs: Float32Array[] = [];
  const summary = await run((z, mask, prob) => {
    masks[z] = mask;
    probs[z] = prob!;
  });
  return { masks, probs, summary };
}

/** Predicts shard by shard into plane arrays held here (as shard jobs do into S3), then merges them. */
async function sharded(model: SegmentationModel, volume: MemoryVolume, o: Options, maxPasses: number, onSlice: PredictOptions['onSlice']) {
  const grid = predictionGrid(volume, o.predictScale).shape;
  const shards = planShards(grid, o.axes, o.tta, maxPasses);
  // Shards run in reverse order: nothing may depend on the order in which workers finish them.
  const stored = new Map<(typeof shards)[number], Uint16Array[]>();
  for (const s of [...shards].reverse()) {
    const planes: Uint16Array[] = [];
    await predictPlaneRange(model, volume, s, o, (p) => void planes.push(p));
    expect(planes.length).toBe(s.end - s.start);
    stored.set(s, planes);
  }
  const [, Y, X] = grid;
  const sources = o.axes.map((plane) => new ShardedAxisSource(plane, shards.filter((s) => s.plane === plane).map((s): ShardPlanes => ({
    start: s.start,
    end: s.end,
    readRow: async (z) => {
      const planes = stored.get(s)!;
      if (plane === 'xy') return planes[z - s.start];
      const cols = plane === 'xz' ? X : Y;
      const out = new Uint16Array(planes.length * cols);
      planes.forEach((p, i) => out.set(p.subarray(z * cols, (z + 1) * cols), i * cols));
      return out;
    },
  })), Y, X));
  return { shards, summary: await finishVolume(volume, { ...o, onSlice }, () => sources) };
}

describe('sharded prediction', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });

  it('cuts each axis into even plane ranges of at most the shard cost', () => {
    const shards = planShards([10, 20, 30], ['xy', 'yz'], true, 20 * 30 * 4 * 3);
    expect(shards.filter((s) => s.plane === 'xy').map((s) => [s.start, s.end])).toEqual([[0, 2], [2, 5], [5, 7], [7, 10]]);
    const yz = shards.filter((s) => s.plane === 'yz');
    expect(yz[0].start).toBe(0);
    expect(yz.at(-1)!.end).toBe(30);
    for (const s of shards) expect((s.end - s.start) * (s.plane === 'xy' ? 600 : 200) * 4).toBeLessThanOrEqual(20 * 30 * 4 * 3);
    expect(planShards([10, 20, 30], ['xy'], false, predictionCost([10, 20, 30], ['xy'], false))).toEqual([{ plane: 'xy', start: 0, end: 10 }]);
  });

  const volume = tubeVolume('tubes', [12, 24, 20], 7);
  const base: Options = { axes: ['xy'], slices: 1, tileSize: 16, overlap: 0.25, tta: false, threshold: 0.5 };
  const cases: Array<[string, Partial<Options>, { slices?: number; out?: number }]> = [
    ['xy', {}, {}],
    ['three axes', { axes: ['xy', 'xz', 'yz'] as PlaneAxis[] }, {}],
    ['three axes with TTA', { axes: ['xy', 'xz', 'yz'] as PlaneAxis[], tta: true }, {}],
    ['slices 3', { axes: ['xy', 'yz'] as PlaneAxis[] }, { slices: 3 }],
    ['slices 5, outputSlices 3', { axes: ['xy', 'xz'] as PlaneAxis[] }, { slices: 5, out: 3 }],
    ['percentile threshold', { axes: ['xy', 'xz'] as PlaneAxis[], positiveFraction: 0.07 }, {}],
    ['component filter', { minComponentVoxels: 20 }, {}],
    ['predictScale', { axes: ['xy', 'yz'] as PlaneAxis[], predictScale: 0.5 }, {}],
  ];
  for (const [name, extra, net] of cases) {
    it(`gives the one-worker masks and probabilities byte for byte: ${name}`, async () => {
      const model = new SegmentationModel({ model: 'unet', encoder: 'plain', inChannels: net.slices ?? 1, outChannels: net.out, baseFilters: 4, depth: 2, normalization: 'batch', dropout: 0, seed: 3 });
      // A threshold inside the untrained network's range of probabilities, so masks are not empty.
      const probe = await collect((onSlice) => predictVolume(model, volume, { ...base, slices: net.slices ?? 1, ...extra, positiveFraction: undefined, minComponentVoxels: undefined, onSlice }));
      const sorted = probe.probs.flatMap((p) => Array.from(p)).sort((a, b) => a - b);
      const o: Options = { ...base, slices: net.slices ?? 1, threshold: sorted[Math.floor(sorted.length * 0.9)], ...extra };
      const one = await collect((onSlice) => predictVolume(model, volume, { ...o, onSlice }));
      // Shards of two to three planes: every axis is cut several times, halos included.
      const grid = predictionGrid(volume, o.predictScale).shape;
      let shards = 0;
      const many = await collect(async (onSlice) => {
        const r = await sharded(model, volume, o, grid[1] * grid[2] * (o.tta ? 4 : 1) * 2.5, onSlice);
        shards = r.shards.length;
        return r.summary;
      });
      expect(shards).toBeGreaterThanOrEqual(o.axes.length * 2);
      expect(many.summary.foregroundVoxels).toBe(one.summary.foregroundVoxels);
      expect(many.summary.threshold).toBe(one.summary.threshold);
      expect(one.summary.foregroundVoxels).toBeGreaterThan(0);
      expect(many.masks.length).toBe(volume.shape[0]);
      for (let z = 0; z < volume.shape[0]; z++) {
        expect(Buffer.from(many.masks[z]).equals(Buffer.from(one.masks[z]))).toBe(true);
        // The component filter hands out masks only.
        if (extra.minComponentVoxels) expect(many.probs[z]).toBeUndefined();
        else expect(Buffer.from(many.probs[z].buffer).equals(Buffer.from(one.probs[z].buffer))).toBe(true);
      }
      model.dispose();
    });
  }
});
