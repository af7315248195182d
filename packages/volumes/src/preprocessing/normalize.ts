import type { VolumeStats } from '../types.ts';

/**
 * Maps raw intensities to [0, 1] for a network: clip to the volume's 0.5th..99.5th percentiles,
 * then scale linearly. Per-volume percentiles (not a global range) because HiP-CT intensity ranges
 * differ a lot between kidneys. Works on any window (a slice, several slices, a box).
 * A constant volume (p995 <= p005) maps to 0 at or below p005 and 1 above.
 */
export function normalizeSlice(raw: Uint8Array | Uint16Array, stats: VolumeStats): Float32Array {
  const out = new Float32Array(raw.length);
  normalizeInto(raw, stats, out);
  return out;
}

/** {@link normalizeSlice} writing into an existing array (same length), to avoid allocations. */
export function normalizeInto(raw: Uint8Array | Uint16Array, stats: VolumeStats, out: Float32Array): Float32Array {
  const lo = stats.p005;
  const hi = stats.p995;
  if (out.length < raw.length) throw new RangeError(`output holds ${out.length} values, input has ${raw.length}`);
  if (!(hi > lo)) {
    for (let i = 0; i < raw.length; i++) out[i] = raw[i] > lo ? 1 : 0;
    return out;
  }
  const scale = 1 / (hi - lo);
  for (let i = 0; i < raw.length; i++) {
    const v = (raw[i] - lo) * scale;
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}
