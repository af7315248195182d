import { describe, expect, it } from 'vitest';
import { normalizeSlice } from './normalize.ts';

const stats = { p005: 100, p995: 300, mean: 200, std: 50, foregroundFraction: null };

describe('normalizeSlice', () => {
  it('clips to the percentiles and scales to [0, 1]', () => {
    const out = normalizeSlice(new Uint16Array([0, 100, 200, 300, 65535]), stats);
    expect([...out]).toEqual([0, 0, 0.5, 1, 1]);
  });
  it('maps a constant volume to 0 at or below p005 and 1 above', () => {
    const out = normalizeSlice(new Uint8Array([4, 5, 6]), { ...stats, p005: 5, p995: 5 });
    expect([...out]).toEqual([0, 0, 1]);
  });
});
