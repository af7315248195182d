import { describe, expect, it } from 'vitest';
import type { SearchSpace } from '@capillary/contracts';
import { Rng } from '@capillary/volumes';
import { suggestTpe, type TpeObservation } from './tpe.ts';

/** The stream a sweep would hand over for trial `index`: the one `sampleTrial` draws from. */
const stream = (seed: number, index: number) => {
  const rng = Rng.of(seed, index);
  return () => rng.float();
};

/** Runs a whole search: `budget` trials, each scored by `score`, as the sweep would feed them back. */
function search(space: SearchSpace, score: (p: Record<string, unknown>) => number, seed: number, budget: number, startupTrials: number) {
  const obs: TpeObservation[] = [];
  for (let i = 0; i < budget; i++) {
    const params = suggestTpe(space, obs, stream(seed, i), { startupTrials });
    obs.push({ params, score: score(params) });
  }
  return obs;
}

const mixed: SearchSpace = {
  augmentationP: { uniform: [0, 1] },
  lr: { loguniform: [1e-5, 1e-1] },
  depth: { int: [1, 8] },
  loss: { choice: ['bce-dice', 'dice', 'focal'] },
};

/**
 * Branin (min 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)) with x1 from augmentationP
 * over [-5, 10] and x2 from log10(lr) over [0, 15], plus a quadratic in depth and a constant per loss.
 */
function mixedLoss(p: Record<string, unknown>): number {
  const x1 = -5 + 15 * (p.augmentationP as number);
  const x2 = (15 * (Math.log10(p.lr as number) + 5)) / 4;
  const b = 5.1 / (4 * Math.PI ** 2);
  const branin = (x2 - b * x1 ** 2 + (5 / Math.PI) * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * Math.PI)) * Math.cos(x1) + 10;
  return branin + 2 * ((p.depth as number) - 6) ** 2 + ({ 'bce-dice': 5, dice: 0, focal: 10 } as Record<string, number>)[p.loss as string];
}

/** Random observations for a space, scored at random: enough to exercise every branch of the fit. */
function noise(space: SearchSpace, seed: number, n: number): TpeObservation[] {
  return Array.from({ length: n }, (_, i) => ({ params: suggestTpe(space, [], stream(seed, 1000 + i), { startupTrials: 1 }), score: Rng.of(seed, 5000 + i).float() }));
}

describe('suggestTpe', () => {
  it('is deterministic in its inputs and follows the random stream', () => {
    const obs = noise(mixed, 1, 15);
    const a = suggestTpe(mixed, obs, stream(7, 15), { startupTrials: 5 });
    expect(suggestTpe(mixed, obs, stream(7, 15), { startupTrials: 5 })).toEqual(a);
    expect(suggestTpe(mixed, obs, stream(8, 15), { startupTrials: 5 })).not.toEqual(a);
    // The observations matter too: the same stream with other scores suggests another trial.
    const rescored = obs.map((o, i) => ({ ...o, score: i }));
    expect(suggestTpe(mixed, rescored, stream(7, 15), { startupTrials: 5 })).not.toEqual(a);
  });

  it('draws the first startupTrials exactly as a random sweep does, ignoring non-finite scores', () => {
    for (let i = 0; i < 10; i++) {
      // sampleTrial's draw: fields in name order, Rng.int for int/choice, Rng.range for floats, 6 digits.
      const rng = Rng.of(3, i);
      const expected = {
        augmentationP: Number(rng.range(0, 1).toPrecision(6)),
        depth: 1 + rng.int(8),
        loss: (['bce-dice', 'dice', 'focal'] as const)[rng.int(3)],
        lr: Number(Math.exp(rng.range(Math.log(1e-5), Math.log(1e-1))).toPrecision(6)),
      };
      const obs = noise(mixed, 2, i);
      expect(suggestTpe(mixed, obs, stream(3, i), { startupTrials: 10 })).toEqual(expected);
      // Failed trials (NaN or infinite scores) do not count toward the start-up phase.
      const withFailures = [...noise(mixed, 4, 10).map((o) => ({ ...o, score: NaN })), ...obs, { params: expected, score: -Infinity }];
      expect(suggestTpe(mixed, withFailures, stream(3, i), { startupTrials: 10 })).toEqual(expected);
    }
  });

  it('concentrates near the optimum once it has observations', () => {
    const space: SearchSpace = { threshold: { uniform: [0, 1] } };
    const near = (o: TpeObservation) => Math.abs((o.params.threshold as number) - 0.9) < 0.1;
    let tpeNear = 0;
    let randomNear = 0;
    for (let seed = 0; seed < 5; seed++) {
      const tpe = search(space, (p) => -(((p.threshold as number) - 0.9) ** 2), seed, 40, 10);
      const random = search(space, () => 0, seed, 40, 40);
      expect(tpe.slice(0, 10).map((o) => o.params)).toEqual(random.slice(0, 10).map((o) => o.params));
      tpeNear += tpe.slice(20).filter(near).length;
      randomNear += random.slice(20).filter(near).length;
    }
    // Of the 100 suggestions made after 20 observations, most land within 0.1 of the optimum (random: ~20 %).
    console.log(`near 0.9 after 20 observations: TPE ${tpeNear}/100, random ${randomNear}/100`);
    expect(tpeNear).toBeGreaterThan(60);
    expect(randomNear).toBeLessThan(35);
  });

  it('finds a lower minimum than random search with the same budget, on average over seeds', () => {
    const seeds = Array.from({ length: 20 }, (_, s) => s);
    const best = (startupTrials: number) => seeds.map((s) => Math.min(...search(mixed, (p) => -mixedLoss(p), s, 30, startupTrials).map((o) => -o.score)));
    const tpe = best(10);
    const random = best(30);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`mixed Branin, 30 trials, 20 seeds: mean best TPE ${mean(tpe).toFixed(3)}, random ${mean(random).toFixed(3)}; TPE better on ${tpe.filter((t, i) => t < random[i]).length}/20 seeds`);
    expect(mean(tpe)).toBeLessThan(mean(random));
    expect(tpe.filter((t, i) => t < random[i]).length).toBeGreaterThan(10);
  });

  it('keeps every suggestion inside the space, edge cases included', () => {
    const edge: SearchSpace = {
      augmentationP: { uniform: [0.1234567, 0.1234568] }, // narrower than 6 significant digits
      dropout: { uniform: [-1e-9, 1e-9] },
      lr: { loguniform: [1e-3, 1.0000001e-3] },
      depth: { int: [3, 4] },
      epochs: { int: [5, 5] },
      warmupEpochs: { int: [-2, 0] },
      loss: { choice: ['dice'] },
      normalization: { choice: [true, 0, 'batch'] },
      threshold: { uniform: [0, 1] },
    };
    for (const space of [edge, mixed]) {
      for (let seed = 0; seed < 6; seed++) {
        // Startup, TPE with few and many (over 25, so age weights ramp) observations, and junk params.
        const obs = [...noise(space, seed, 40), { params: { lr: -1, depth: 'x', threshold: NaN }, score: 2 }];
        for (const n of [0, 3, 10, 41]) {
          const p = suggestTpe(space, obs.slice(0, n), stream(seed, n), { startupTrials: 3, candidates: 8 });
          expect(Object.keys(p).sort()).toEqual(Object.keys(space).sort());
          for (const [field, d] of Object.entries(space)) {
            const v = p[field];
            if (d.choice) expect(d.choice).toContain(v);
            else {
              const [lo, hi] = (d.uniform ?? d.loguniform ?? d.int)!;
              expect(typeof v === 'number' && v >= lo && v <= hi, `${field}=${String(v)} in [${lo}, ${hi}]`).toBe(true);
              if (d.int) expect(Number.isInteger(v) && !Object.is(v, -0)).toBe(true);
              // Six significant digits, unless a bound with more digits had to be taken instead.
              else expect(v === Number((v as number).toPrecision(6)) || v === lo || v === hi).toBe(true);
            }
          }
        }
      }
    }
  });
});
