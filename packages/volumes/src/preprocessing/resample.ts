/**
 * Resampling by a factor without holding a volume: a reader that presents another voxel grid of a
 * volume (two source planes and one output plane at a time), and the bilinear plane resize both
 * directions use. Grids are aligned on voxel centres: output index j sits at source coordinate
 * (j + 0.5) * n / m - 0.5, clamped to the source.
 */
import { axisLength, windowShape, type Axis, type VolumeReader, type VolumeStats } from '../types.ts';

/** Output length of `n` voxels resampled by `factor` (at least 1). */
export const resampledLength = (n: number, factor: number) => Math.max(1, Math.round(n * factor));

/** Source coordinate of output index `j` when `n` source voxels become `m`. */
export function sourceCoordinate(j: number, n: number, m: number): number {
  return Math.min(n - 1, Math.max(0, ((j + 0.5) * n) / m - 0.5));
}

/** Bilinear resize of a row-major [rows, cols] plane to [rows2, cols2] (centre-aligned, edge-clamped). */
export function resizePlane(src: ArrayLike<number>, rows: number, cols: number, rows2: number, cols2: number): Float32Array {
  const out = new Float32Array(rows2 * cols2);
  const cx = Array.from({ length: cols2 }, (_, c) => sourceCoordinate(c, cols, cols2));
  for (let r = 0; r < rows2; r++) {
    const sr = sourceCoordinate(r, rows, rows2);
    const r0 = Math.floor(sr);
    const r1 = Math.min(rows - 1, r0 + 1);
    const fr = sr - r0;
    for (let c = 0; c < cols2; c++) {
      const sc = cx[c];
      const c0 = Math.floor(sc);
      const c1 = Math.min(cols - 1, c0 + 1);
      const fc = sc - c0;
      const top = src[r0 * cols + c0] * (1 - fc) + src[r0 * cols + c1] * fc;
      const bottom = src[r1 * cols + c0] * (1 - fc) + src[r1 * cols + c1] * fc;
      out[r * cols2 + c] = top * (1 - fr) + bottom * fr;
    }
  }
  return out;
}

/** Nearest-neighbour resize of a 0/1 plane. */
function resizeLabel(src: Uint8Array, rows: number, cols: number, rows2: number, cols2: number): Uint8Array {
  const out = new Uint8Array(rows2 * cols2);
  for (let r = 0; r < rows2; r++) {
    const sr = Math.round(sourceCoordinate(r, rows, rows2));
    for (let c = 0; c < cols2; c++) out[r * cols2 + c] = src[sr * cols + Math.round(sourceCoordinate(c, cols, cols2))];
  }
  return out;
}

/**
 * A volume seen on a grid `factor` times as fine along every axis (trilinear image, nearest labels),
 * read plane by plane from the source. Statistics are the source's: resampling keeps intensities.
 */
export class ResampledVolume implements VolumeReader {
  readonly id: string;
  readonly shape: readonly [number, number, number];
  readonly dtype;
  readonly hasLabels: boolean;
  readonly stats: VolumeStats;
  /** The last source pair read, per axis: consecutive output planes mostly share it. */
  private readonly pairs = new Map<Axis, { start: number; count: number; data: Uint8Array | Uint16Array }>();

  constructor(
    readonly source: VolumeReader,
    readonly factor: number,
  ) {
    if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`resampling factor must be positive, got ${factor}`);
    const [z, y, x] = source.shape;
    this.id = `${source.id}@x${factor}`;
    this.shape = [resampledLength(z, factor), resampledLength(y, factor), resampledLength(x, factor)];
    this.dtype = source.dtype;
    this.hasLabels = source.hasLabels;
    this.stats = source.stats;
  }

  async readImage(axis: Axis, start: number, count: number): Promise<Uint8Array | Uint16Array> {
    const [, rows2, cols2] = windowShape(this.shape, axis, 1);
    const [, rows, cols] = windowShape(this.source.shape, axis, 1);
    const n = axisLength(this.source.shape, axis);
    const m = axisLength(this.shape, axis);
    const plane = rows * cols;
    const out = this.dtype === 'uint8' ? new Uint8Array(count * rows2 * cols2) : new Uint16Array(count * rows2 * cols2);
    const mixed = new Float32Array(plane);
    for (let j = 0; j < count; j++) {
      const u = sourceCoordinate(start + j, n, m);
      const s0 = Math.floor(u);
      const s1 = Math.min(n - 1, s0 + 1);
      const f = u - s0;
      const pair = await this.sourcePair(axis, s0, s1 - s0 + 1);
      const b = (s1 - s0) * plane;
      for (let i = 0; i < plane; i++) mixed[i] = pair[i] * (1 - f) + pair[b + i] * f;
      const resized = resizePlane(mixed, rows, cols, rows2, cols2);
      const o = j * rows2 * cols2;
      for (let i = 0; i < resized.length; i++) out[o + i] = Math.round(resized[i]);
    }
    return out;
  }

  async readLabel(axis: Axis, start: number, count: number): Promise<Uint8Array> {
    const [, rows2, cols2] = windowShape(this.shape, axis, 1);
    const [, rows, cols] = windowShape(this.source.shape, axis, 1);
    const n = axisLength(this.source.shape, axis);
    const m = axisLength(this.shape, axis);
    const out = new Uint8Array(count * rows2 * cols2);
    for (let j = 0; j < count; j++) {
      const s = Math.round(sourceCoordinate(start + j, n, m));
      out.set(resizeLabel(await this.source.readLabel(axis, s, 1), rows, cols, rows2, cols2), j * rows2 * cols2);
    }
    return out;
  }

  private async sourcePair(axis: Axis, start: number, count: number): Promise<Uint8Array | Uint16Array> {
    const cached = this.pairs.get(axis);
    if (cached && cached.start === start && cached.count === count) return cached.data;
    const data = await this.source.readImage(axis, start, count);
    this.pairs.set(axis, { start, count, data });
    return data;
  }
}
