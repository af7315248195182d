import { describe, expect, it } from 'vitest';
import { axisValue, defaultSelection, lineageGraph, paramAxes, rungRows } from './sweep-model.ts';
import type { SweepDetail, SweepTrial } from '../types.ts';

const trial = (i: number, params: SweepTrial['params'], score: number | null, over: Partial<SweepTrial> = {}): SweepTrial => ({
  id: `id-${i}`, name: null, trialIndex: i, status: 'succeeded', rung: null, score, params, curve: [], ...over,
});
const sweep = (trials: SweepTrial[], over: Partial<SweepDetail> = {}): SweepDetail => ({
  id: 's', name: 's', strategy: 'random', asha: null, pbt: null, maxConcurrent: null, createdAt: '', closedAt: null, params: ['lr', 'model', 'augmentationP'], rungs: [], lineage: [], trials, ...over,
});

describe('sweep page model', () => {
  const trials = [trial(0, { lr: 1e-4, model: 'unet', augmentationP: 0.2 }, 0.5), trial(1, { lr: 1e-2, model: 'unet25d', augmentationP: 0.4 }, 0.7), trial(2, { lr: 1e-3, model: 'unet', augmentationP: 0.9 }, null)];

  it('makes text parameters categorical and wide positive ranges logarithmic', () => {
    const axes = paramAxes(sweep(trials));
    expect(axes).toEqual([{ name: 'lr', log: true }, { name: 'model', categories: ['unet', 'unet25d'] }, { name: 'augmentationP', log: false }]);
    expect(axisValue(axes[1], trials[1])).toBe(1);
    expect(axisValue(axes[0], trials[2])).toBe(1e-3);
  });

  it('selects the best scored trials first, and lists who stopped at each rung', () => {
    expect(defaultSelection(trials, 2)).toEqual(['id-1', 'id-0']);
    const s = sweep([trial(0, {}, 0.5, { status: 'stopped', rung: 0 }), trial(1, {}, 0.7, { rung: 1 })], { rungs: [{ rung: 0, epoch: 1, finished: 2, promoted: ['id-1'] }, { rung: 1, epoch: 3, finished: 1, promoted: [] }] });
    expect(rungRows(s)).toEqual([{ rung: 0, epoch: 1, finished: 2, promoted: ['id-1'], stopped: ['id-0'] }, { rung: 1, epoch: 3, finished: 1, promoted: [], stopped: [] }]);
  });

  it('draws PBT lineage: a lane per member, an arrow from the donor to the member at the interval, with what changed', () => {
    const curve = (n: number) => Array.from({ length: n }, (_, i) => ({ epoch: i + 1, trainLoss: 1, valLoss: null, surfaceDice: 0.5 }));
    const s = sweep([trial(0, {}, 0.5, { curve: curve(3) }), trial(1, {}, 0.7, { curve: curve(3) })], {
      strategy: 'pbt',
      lineage: [{ experimentId: 'id-0', epoch: 1, fromExperimentId: 'id-1', fromEpoch: 1, before: { lr: 0.001 }, after: { lr: 0.0120001 } }, { experimentId: 'id-0', epoch: 2, fromExperimentId: 'gone', fromEpoch: 2, before: {}, after: {} }],
    });
    expect(lineageGraph(s)).toEqual({
      lanes: [{ id: 'id-0', label: 'trial 0', lane: 0, epochs: 3 }, { id: 'id-1', label: 'trial 1', lane: 1, epochs: 3 }],
      arrows: [{ from: 'id-1', to: 'id-0', fromLane: 1, toLane: 0, fromEpoch: 1, epoch: 1, change: 'lr 0.001 → 0.012' }],
      maxEpoch: 3,
    });
  });
});
