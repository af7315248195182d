import { describe, expect, it } from 'vitest';
import { COLORS, composeOverlay, sliceDice } from './overlay.ts';

const px = (out: Uint8ClampedArray, i: number) => Array.from(out.subarray(4 * i, 4 * i + 4));
const blend = (g: number, c: readonly number[], a: number) => [...c.map((v) => Math.round(g * (1 - a) + v * a)), 255];

describe('composeOverlay', () => {
  const image = new Uint8Array([0, 100, 200, 255]);
  const truth = new Uint8Array([1, 1, 0, 0]);
  const pred = new Uint8Array([1, 0, 1, 0]);

  it('colours agreement, extra prediction and missed vessel, and counts them', () => {
    const out = new Uint8ClampedArray(16);
    const c = composeOverlay(image, truth, pred, out, { alpha: 0.5, showImage: true, showTruth: true, showPrediction: true });
    expect(c).toEqual({ tp: 1, fp: 1, fn: 1 });
    expect(px(out, 0)).toEqual(blend(0, COLORS.tp, 0.5));
    expect(px(out, 1)).toEqual(blend(100, COLORS.fn, 0.5));
    expect(px(out, 2)).toEqual(blend(200, COLORS.fp, 0.5));
    expect(px(out, 3)).toEqual([255, 255, 255, 255]);
    expect(sliceDice(c)).toBeCloseTo(0.5);
  });

  it('without a prediction the truth is drawn alone; layers can be hidden', () => {
    const out = new Uint8ClampedArray(16);
    expect(composeOverlay(image, truth, null, out, { alpha: 1, showImage: true, showTruth: true, showPrediction: true })).toEqual({ tp: 0, fp: 0, fn: 0 });
    expect(px(out, 0)).toEqual([...COLORS.truth, 255]);
    expect(px(out, 2)).toEqual([200, 200, 200, 255]);
    composeOverlay(image, truth, pred, out, { alpha: 0.5, showImage: false, showTruth: false, showPrediction: false });
    expect(Array.from(out)).toEqual([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
  });

  it('Dice of a slice with both masks empty is undefined, not 0 or 1', () => {
    expect(sliceDice({ tp: 0, fp: 0, fn: 0 })).toBeNull();
  });
});
