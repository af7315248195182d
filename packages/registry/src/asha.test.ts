import { describe, expect, it } from 'vitest';
import { decide, pauseEpochOf, rungEpochs, type AshaConfig, type AshaTrial } from './asha.ts';

const cfg: AshaConfig = { minEpochs: 1, reductionFactor: 3, maxEpochs: 9 };

/** A trial from recorded scores: paused at the rung after its last score unless told otherwise. */
const trial = (index: number, scores: (number | null)[], over: Partial<AshaTrial> = {}): AshaTrial => ({
  id: `t${index}`, index, rungScores: scores, status: 'paused', rung: Math.max(0, scores.length - 1), ...over,
});

describe('rungs', () => {
  it('are minEpochs * eta^k below maxEpochs, then maxEpochs', () => {
    expect(rungEpochs(cfg)).toEqual([1, 3, 9]);
    expect(rungEpochs({ minEpochs: 2, reductionFactor: 2, maxEpochs: 10 })).toEqual([2, 4, 8, 10]);
    expect(rungEpochs({ minEpochs: 5, reductionFactor: 3, maxEpochs: 5 })).toEqual([5]);
    expect(pauseEpochOf(cfg, 0)).toBe(1);
    expect(pauseEpochOf(cfg, 1)).toBe(3);
    expect(pauseEpochOf(cfg, 2)).toBeNull();
  });
});

describe('ASHA decisions on recorded scores', () => {
  it('promotes nobody while fewer than eta trials finished the rung and others still run', () => {
    const trials = [trial(0, [0.5]), trial(1, [0.7]), trial(2, [], { status: 'running' })];
    expect(decide(cfg, trials)).toEqual({ promote: [], stop: [] });
  });

  it('promotes the best of the first eta finishers at once (asynchronously), before the rung is complete', () => {
    const trials = [trial(0, [0.5]), trial(1, [0.7]), trial(2, [0.6]), trial(3, [], { status: 'running' }), trial(4, [], { status: 'queued' })];
    expect(decide(cfg, trials)).toEqual({ promote: [{ id: 't1', fromRung: 0, toRung: 1 }], stop: [] });
  });

  it('does not promote a trial twice, and promotes a later finisher that climbs into the top 1/eta', () => {
    // t1 went on already (rung 1, running); six finished: the top two are t1 and t5.
    const trials = [
      trial(0, [0.5]), trial(1, [0.7], { status: 'running', rung: 1 }), trial(2, [0.6]), trial(3, [0.1]), trial(4, [0.2]), trial(5, [0.8]),
      trial(6, [], { status: 'running' }),
    ];
    expect(decide(cfg, trials)).toEqual({ promote: [{ id: 't5', fromRung: 0, toRung: 1 }], stop: [] });
  });

  it('stops the paused trials of a rung nobody can reach any more, with their rung', () => {
    const trials = [
      trial(0, [0.5]), trial(1, [0.7], { status: 'running', rung: 1 }), trial(2, [0.6]),
      trial(3, [], { status: 'failed', rung: 0 }),
    ];
    expect(decide(cfg, trials)).toEqual({ promote: [], stop: [{ id: 't2', rung: 0 }, { id: 't0', rung: 0 }] });
  });

  it('a complete rung from which nobody went on promotes its best trial and stops the rest', () => {
    const trials = [trial(0, [0.5]), trial(1, [0.4])];
    expect(decide(cfg, trials)).toEqual({ promote: [{ id: 't0', fromRung: 0, toRung: 1 }], stop: [{ id: 't1', rung: 0 }] });
  });

  it('ranks unscored trials last and breaks ties by trial index', () => {
    const trials = [trial(0, [null]), trial(1, [0.3]), trial(2, [0.3]), trial(3, [0.3]), trial(4, [0.1]), trial(5, [null])];
    const d = decide(cfg, trials);
    expect(d.promote.map((p) => p.id)).toEqual(['t1', 't2']);
    expect(d.stop.map((s) => s.id)).toEqual(['t3', 't4', 't0', 't5']);
  });

  it('a whole 9-trial sweep: 9 -> 3 -> 1, decided rung by rung', () => {
    const s0 = [0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.4, 0.6, 0.5];
    let trials = s0.map((s, i) => trial(i, [s]));
    const d0 = decide(cfg, trials);
    expect(d0.promote.map((p) => p.id).sort()).toEqual(['t1', 't3', 't5']);
    expect(d0.stop).toHaveLength(6);
    // The three promoted finish rung 1 (epoch 3) with new scores; the others are stopped.
    const s1: Record<string, number> = { t1: 0.91, t3: 0.95, t5: 0.72 };
    trials = trials.map((t) => (t.id in s1 ? { ...t, rungScores: [t.rungScores[0], s1[t.id]], rung: 1 } : { ...t, status: 'stopped' }));
    const d1 = decide(cfg, trials);
    expect(d1.promote).toEqual([{ id: 't3', fromRung: 1, toRung: 2 }]);
    expect(d1.stop.map((s) => s.id).sort()).toEqual(['t1', 't5']);
    // Applying the decisions and asking again yields none.
    trials = trials.map((t) => (t.id === 't3' ? { ...t, status: 'running', rung: 2 } : t.id in s1 ? { ...t, status: 'stopped' } : t));
    expect(decide(cfg, trials)).toEqual({ promote: [], stop: [] });
  });

  it('a trial waiting at an undecided lower rung keeps the rung above open', () => {
    // t0..t2 finished rung 1; t3 waits at rung 0 and might still be promoted (t4 still runs).
    const trials = [
      trial(0, [0.9, 0.5]), trial(1, [0.8, 0.6]), trial(2, [0.7, 0.4]), trial(3, [0.2]),
      trial(4, [], { status: 'running' }), trial(5, [0.1], { status: 'stopped' }),
    ];
    const d = decide(cfg, trials);
    // rung 1: three finished, top one (t1) goes on; t0 and t2 wait because t3 could still come.
    expect(d.promote).toEqual([{ id: 't1', fromRung: 1, toRung: 2 }]);
    expect(d.stop).toEqual([]);
  });
});

describe('rung summary', () => {
  it('counts the trials that finished each rung and names those that went on', async () => {
    const { rungSummary } = await import('./asha.ts');
    const trials = [
      { id: 'a', rung: 2, epochsDone: 9 }, { id: 'b', rung: 1, epochsDone: 3 }, { id: 'c', rung: 0, epochsDone: 1 }, { id: 'd', rung: 1, epochsDone: 2 },
    ];
    expect(rungSummary(cfg, trials)).toEqual([
      { rung: 0, epoch: 1, finished: 4, promoted: ['a', 'b', 'd'] },
      { rung: 1, epoch: 3, finished: 2, promoted: ['a'] },
      { rung: 2, epoch: 9, finished: 1, promoted: [] },
    ]);
  });
});
