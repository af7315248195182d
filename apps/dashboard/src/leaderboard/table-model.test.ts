import { describe, expect, it } from 'vitest';
import { COLUMN_BY_KEY, CROP_SCORE, HIDDEN_PRIVATE, VALIDATED_ON_TRAINING, type RowContext } from './columns.ts';
import { columnFilter, filterRows, groupBySweep, sortRows } from './table-model.ts';
import type { LeaderboardRow } from '../types.ts';

let n = 0;
function row(over: Partial<LeaderboardRow>): LeaderboardRow {
  n++;
  return {
    rank: null, experimentId: `e${n}`, name: `run ${n}`, sweepId: null, sweepName: null, model: 'unet', encoder: 'plain', inputMode: '2d',
    epochs: 10, lr: 0.001, augmentationP: 0.5, batchSize: 4, seed: 0, score: null, scoreSource: null, validationScore: null, validatedOnTraining: false, validationCrops: false, wholeValidationScore: null, privateRevealed: false, bestEpoch: null, privateScore: null, status: 'succeeded',
    backend: 'wasm', attempts: 1, durationMs: 1000, createdAt: '2026-01-01T00:00:00Z', finishedAt: null, ...over,
  };
}
const ctx: RowContext = { closedSweeps: new Set(['closed']) };

describe('leaderboard table model', () => {
  const rows = [
    row({ score: 0.6, lr: 6e-4, sweepId: 'open', sweepName: 'A', epochs: 19, privateScore: null }),
    row({ score: 0.55, lr: 6e-5, sweepId: 'open', sweepName: 'A', epochs: 16 }),
    row({ score: null, lr: 1e-3, status: 'running' }),
    row({ score: 0.7, lr: 1e-3, sweepId: 'closed', sweepName: 'B', privateScore: 0.5, model: 'unet25d' }),
    row({ score: 0.4, lr: 1e-3, sweepId: 'closed', sweepName: 'B', privateScore: 0.45, model: 'unet25d', encoder: 'resnext50' }),
  ];

  it('sorts numbers both ways with missing values last either way', () => {
    const up = sortRows(rows, { key: 'score', dir: 'asc' }, ctx).map((r) => r.score);
    expect(up).toEqual([0.4, 0.55, 0.6, 0.7, null]);
    const down = sortRows(rows, { key: 'score', dir: 'desc' }, ctx).map((r) => r.score);
    expect(down).toEqual([0.7, 0.6, 0.55, 0.4, null]);
    expect(sortRows(rows, { key: 'lr', dir: 'asc' }, ctx).map((r) => r.lr)).toEqual([6e-5, 6e-4, 1e-3, 1e-3, 1e-3]);
  });

  it('filters numeric columns by comparison or range, text columns by substring', () => {
    const score = COLUMN_BY_KEY.get('score')!;
    expect(rows.filter(columnFilter(score, '>0.5', ctx)!).map((r) => r.score)).toEqual([0.6, 0.55, 0.7]);
    expect(rows.filter(columnFilter(score, '0.45..0.6', ctx)!).map((r) => r.score)).toEqual([0.6, 0.55]);
    expect(filterRows(rows, { lr: '<=6e-4', model: 'UNET' }, ctx).map((r) => r.lr)).toEqual([6e-4, 6e-5]);
    expect(filterRows(rows, { status: 'run' }, ctx)).toHaveLength(1);
  });

  it('hides private scores of open sweeps; sorting by private puts them last', () => {
    const priv = COLUMN_BY_KEY.get('privateScore')!;
    expect(priv.text(rows[0], ctx)).toBe(HIDDEN_PRIVATE);
    expect(priv.text(rows[3], ctx)).toBe('0.5000');
    // A lone experiment: hidden until it is closed itself (the API says so with privateRevealed).
    expect(priv.text(rows[2], ctx)).toBe(HIDDEN_PRIVATE);
    expect(priv.text(row({ score: 0.5, privateScore: 0.42, privateRevealed: true }), ctx)).toBe('0.4200');
    expect(priv.text(row({ score: 0.5, privateScore: null, privateRevealed: true }), ctx)).toBe('—');
    expect(sortRows(rows, { key: 'privateScore', dir: 'desc' }, ctx).slice(0, 2).map((r) => r.privateScore)).toEqual([0.5, 0.45]);
  });

  it('says where the score comes from, and marks a run validated on its own training volumes', () => {
    const source = COLUMN_BY_KEY.get('scoreSource')!;
    expect(source.text(row({ scoreSource: 'public_test' }), ctx)).toBe('public test');
    expect(source.text(row({ scoreSource: 'validation' }), ctx)).toBe('validation');
    expect(source.text(row({ scoreSource: 'training', validatedOnTraining: true }), ctx)).toBe('training volumes');
    expect(source.text(row({ scoreSource: 'public_test', validatedOnTraining: true }), ctx)).toBe(`public test · ${VALIDATED_ON_TRAINING}`);
    expect(source.text(row({}), ctx)).toBe('—');
  });

  it('marks a score measured on validation crops until the whole volumes are scored', () => {
    const score = COLUMN_BY_KEY.get('score')!;
    const cropped = row({ score: 0.61234, scoreSource: 'validation', validationScore: 0.61234, validationCrops: true });
    expect(score.text(cropped, ctx)).toBe(`0.6123 ${CROP_SCORE}`);
    expect(score.value(cropped, ctx)).toBe(0.61234);
    // The whole-volume score replaced it, or a public-test score outranks it: no marker.
    expect(score.text(row({ score: 0.55, scoreSource: 'validation', validationCrops: true, wholeValidationScore: 0.55 }), ctx)).toBe('0.5500');
    expect(score.text(row({ score: 0.7, scoreSource: 'public_test', validationCrops: true }), ctx)).toBe('0.7000');
    expect(score.text(row({ score: 0.61, scoreSource: 'validation' }), ctx)).toBe('0.6100');
    expect(filterRows([cropped, row({ score: 0.5, scoreSource: 'validation' })], { score: CROP_SCORE }, ctx)).toEqual([cropped]);
  });

  it('groups by sweep, best group first, with only the varying parameters as columns', () => {
    const groups = groupBySweep(rows, ctx);
    expect(groups.map((g) => g.name)).toEqual(['B', 'A', 'Not in a sweep']);
    const [b, a, none] = groups;
    expect(b.closed).toBe(true);
    expect(b.varying.map((c) => c.key)).toEqual(['encoder']);
    expect(b.shared).toContainEqual(['model', 'unet25d']);
    expect(a.varying.map((c) => c.key)).toEqual(['epochs', 'lr']);
    // Outside a sweep nothing is shared: every parameter is a column.
    expect(none.varying.length).toBe(8);
  });
});
