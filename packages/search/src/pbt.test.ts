import { describe, expect, it } from 'vitest';
import { Validator, parseEnv, SweepSpec } from '@capillary/contracts';
import { decidePbt, pbtCutoff, type PbtMember } from './pbt.ts';
import { expandSweep, sampleTrial } from './strategies.ts';

const limits = parseEnv({ DATABASE_URL: 'x', REDIS_URL: 'x', S3_ENDPOINT: 'x' });
const base = { dataset: 'd', model: 'unet' as const, epochs: 6 };
const space = { lr: { loguniform: [1e-3, 1e-1] }, augmentationP: { uniform: [0, 0.5] } };
const pbt = (over: object = {}, settings: object = {}) =>
  ({ name: 'p', base, strategy: 'pbt', space, seed: 3, pbt: { population: 8, perturbationInterval: 2, ...settings }, ...over }) as SweepSpec;
const body = new Validator('sweep', SweepSpec);
const members = (scores: (number | null)[]): PbtMember[] =>
  scores.map((score, index) => ({ index, score, params: sampleTrial(space, 3, index) }));

describe('pbt sweep shape', () => {
  it('the issue body validates, and the population is sampled like a random sweep', () => {
    expect(body.issues(pbt())).toEqual([]);
    const { trials, issues } = expandSweep(pbt(), limits);
    expect(issues).toEqual([]);
    expect(trials.map((t) => t.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(trials.map((t) => t.spec.lr)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => sampleTrial(space, 3, i).lr));
  });

  it('the schema names the settings field that is out of range', () => {
    const fields = (settings: object) => body.issues(pbt({}, settings)).map((i) => i.field);
    expect(fields({ population: 1 })).toEqual(['/pbt/population']);
    expect(fields({ perturbationInterval: 0 })).toEqual(['/pbt/perturbationInterval']);
    expect(fields({ quantile: 0 })).toEqual(['/pbt/quantile']);
    expect(fields({ quantile: 0.6 })).toEqual(['/pbt/quantile']);
    expect(fields({ perturbFactors: [] })).toEqual(['/pbt/perturbFactors']);
    expect(fields({ perturbFactors: [0.8, -1] })).toEqual(['/pbt/perturbFactors/1']);
    expect(fields({ quantile: 0.5, perturbFactors: [0.5, 2] })).toEqual([]);
  });

  it('refuses what a pbt sweep does not take, naming the field', () => {
    const issues = (s: SweepSpec) => expandSweep(s, limits).issues;
    expect(issues(pbt({ trials: 8 }))).toEqual([{ field: '/trials', message: 'is not used by a pbt sweep' }]);
    expect(issues(pbt({ pbt: undefined }))).toEqual([{ field: '/pbt', message: 'is required for a pbt sweep' }]);
    expect(issues(pbt({}, { perturbationInterval: 6 }))).toEqual([{ field: '/pbt/perturbationInterval', message: 'must be below base.epochs (6): there would be no interval to perturb at' }]);
    expect(issues(pbt({ base: { dataset: 'd' } }))[0].field).toBe('/base/epochs');
    expect(issues(pbt({ space: { ...space, epochs: { int: [2, 5] } } }))[0].field).toBe('/space/epochs');
    expect(issues(pbt({ space: { dropout: { uniform: [0, 0.3] } } }))[0].field).toBe('/space');
    expect(issues(pbt({ space: { lr: { choice: [0.01, 0.02] } } }))[0].field).toBe('/space/lr');
  });
});

describe('decidePbt', () => {
  it('a quarter of the population, at least one member, exploits', () => {
    expect([2, 3, 4, 7, 8, 9].map((n) => pbtCutoff(n))).toEqual([1, 1, 1, 1, 2, 2]);
    expect(pbtCutoff(8, 0.5)).toBe(4);
    expect(pbtCutoff(1)).toBe(0);
  });

  it('the bottom members copy a top member and perturb lr and augmentationP by a factor, inside the bounds', () => {
    const scores = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, null, 0.6];
    const out = decidePbt(pbt(), 2, members(scores));
    // The worst first: null, then 0.1.
    expect(out.map((e) => e.member)).toEqual([6, 2]);
    for (const e of out) {
      expect([1, 5]).toContain(e.donor);
      const donor = sampleTrial(space, 3, e.donor);
      expect(e.changes.map((c) => c.field)).toEqual(['lr', 'augmentationP']);
      for (const c of e.changes) {
        expect([0.8, 1.2]).toContain(c.factor);
        expect(c.from).toBe(donor[c.field]);
        const [lo, hi] = c.field === 'lr' ? [1e-3, 1e-1] : [0, 0.5];
        expect(c.to).toBe(Number(Math.min(hi, Math.max(lo, c.from * c.factor)).toPrecision(6)));
        expect(e.params[c.field]).toBe(c.to);
      }
    }
  });

  it('is the same for the same seed, epoch and arrival order, and differs with the seed or the epoch', () => {
    const m = members([0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6]);
    expect(decidePbt(pbt(), 2, m)).toEqual(decidePbt(pbt(), 2, m));
    const draws = (s: SweepSpec, epoch: number) => JSON.stringify(decidePbt(s, epoch, m).map((e) => [e.donor, e.changes.map((c) => c.factor)]));
    const seen = new Set([draws(pbt(), 2), ...[1, 2, 3, 4, 5, 6].map((seed) => draws(pbt({ seed }), 2)), ...[4, 6, 8, 10].map((epoch) => draws(pbt(), epoch))]);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('ties rank the earlier arrival higher', () => {
    const m = members([0.5, 0.5, 0.5, 0.5]);
    expect(decidePbt(pbt(), 2, m).map((e) => [e.member, e.donor])).toEqual([[3, 0]]);
    const reversed = [...m].reverse();
    expect(decidePbt(pbt(), 2, reversed).map((e) => [e.member, e.donor])).toEqual([[0, 3]]);
  });

  it('perturbs only the fields the space has; the donor\'s other fields come along', () => {
    const s = pbt({ space: { lr: { uniform: [0.01, 0.02] }, dropout: { uniform: [0, 0.3] } } }, { perturbFactors: [10] });
    const m: PbtMember[] = [
      { index: 0, score: 0.9, params: { lr: 0.015, dropout: 0.2 } },
      { index: 1, score: 0.1, params: { lr: 0.011, dropout: 0.05 } },
    ];
    expect(decidePbt(s, 2, m)).toEqual([{ member: 1, donor: 0, params: { lr: 0.02, dropout: 0.2 }, changes: [{ field: 'lr', from: 0.015, to: 0.02, factor: 10 }] }]);
  });
});
