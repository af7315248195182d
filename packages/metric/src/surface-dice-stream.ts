import { MetricInputError } from './errors.ts';
import { SURFACE_AREA_TABLE } from './surface-area-table.ts';

/** Scores of one volume. `null` (with `reason`) where the official code would give NaN. */
export interface SurfaceDiceResult {
  surfaceDice: number | null;
  dice: number | null;
  reason?: string;
}

const AREA = SURFACE_AREA_TABLE;
/** Four corners whose cubes are entirely inside both masks (code 255 = 0xf << 4 | 0xf). */
const ALL_INTERIOR = 0x0f0f0f0f;

/**
 * Streaming 3D surface Dice at tolerance 0 (and voxel Dice) over z slices pushed in order.
 *
 * Each slice is turned once into a grid of 4-bit "half codes", one per voxel-grid corner
 * ((H+1) x (W+1) corners, zero padding outside the slice). The official 8-bit neighbour code of a
 * corner between slices z-1 and z is `half(z-1) << 4 | half(z)`, so only the previous slice's half
 * codes are kept: memory is O(H*W) whatever the depth. The first push pairs the slice with an
 * all-zero slice above it and `result()` pairs the last one with an all-zero slice below it, which is
 * the zero padding of the official code.
 */
export class SurfaceDiceStream {
  readonly height: number;
  readonly width: number;
  private readonly cornerCount: number;
  /** Half codes of the previous and current slice, for truth and prediction; length padded to x4. */
  private prevTruth: Uint8Array;
  private curTruth: Uint8Array;
  private prevPred: Uint8Array;
  private curPred: Uint8Array;
  private readonly zeros: Uint8Array;
  /** Slice normalised to 0/1 with one zero row above and below, so every corner row reads two rows. */
  private readonly bitsTruth: Uint8Array;
  private readonly bitsPred: Uint8Array;
  private readonly rowAnyTruth: Uint8Array;
  private readonly rowAnyPred: Uint8Array;
  /** matched area, total area, truth area, prediction area. */
  private readonly sums = new Float64Array(4);
  private truthVoxels = 0;
  private predVoxels = 0;
  private bothVoxels = 0;
  private slices = 0;

  constructor(height: number, width: number) {
    if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
      throw new MetricInputError(`slice size must be positive integers, got ${height} x ${width}`);
    }
    this.height = height;
    this.width = width;
    this.cornerCount = (height + 1) * (width + 1);
    const padded = (this.cornerCount + 3) & ~3;
    this.prevTruth = new Uint8Array(padded);
    this.curTruth = new Uint8Array(padded);
    this.prevPred = new Uint8Array(padded);
    this.curPred = new Uint8Array(padded);
    this.zeros = new Uint8Array(padded);
    this.bitsTruth = new Uint8Array((height + 2) * width);
    this.bitsPred = new Uint8Array((height + 2) * width);
    this.rowAnyTruth = new Uint8Array(height + 2);
    this.rowAnyPred = new Uint8Array(height + 2);
  }

  /** Number of slices pushed so far. */
  get depth(): number {
    return this.slices;
  }

  /** Adds the next z slice of truth and prediction (row-major H x W, nonzero = foreground). */
  push(truth: Uint8Array, prediction: Uint8Array): void {
    const n = this.height * this.width;
    if (truth.length !== n || prediction.length !== n) {
      throw new MetricInputError(
        `slice ${this.slices}: expected ${this.height} x ${this.width} = ${n} values, ` +
          `got truth ${truth.length} and prediction ${prediction.length}`,
      );
    }
    this.normalise(truth, prediction);
    this.halfCodes(this.bitsTruth, this.rowAnyTruth, this.curTruth);
    this.halfCodes(this.bitsPred, this.rowAnyPred, this.curPred);
    accumulate(this.prevTruth, this.curTruth, this.prevPred, this.curPred, this.sums);
    [this.prevTruth, this.curTruth] = [this.curTruth, this.prevTruth];
    [this.prevPred, this.curPred] = [this.curPred, this.prevPred];
    this.slices++;
  }

  /** Scores of the slices pushed so far, as if the volume ended here; the stream stays usable. */
  result(): SurfaceDiceResult {
    if (this.slices === 0) return { surfaceDice: null, dice: null, reason: 'no slices were scored' };
    const sums = Float64Array.from(this.sums);
    accumulate(this.prevTruth, this.zeros, this.prevPred, this.zeros, sums);
    const [matched, total] = sums;
    const voxels = this.truthVoxels + this.predVoxels;
    const dice = voxels === 0 ? null : (2 * this.bothVoxels) / voxels;
    if (total === 0) {
      return {
        surfaceDice: null,
        dice,
        reason: 'truth and prediction are both empty (the official metric divides 0 by 0)',
      };
    }
    return { surfaceDice: matched / total, dice };
  }

  /** Copies both masks as 0/1 into the padded buffers, counting voxels and marking non-empty rows. */
  private normalise(truth: Uint8Array, prediction: Uint8Array): void {
    const w = this.width;
    const bt = this.bitsTruth;
    const bp = this.bitsPred;
    let nt = 0;
    let np = 0;
    let nb = 0;
    for (let y = 0; y < this.height; y++) {
      const src = y * w;
      const dst = src + w;
      let anyT = 0;
      let anyP = 0;
      for (let x = 0; x < w; x++) {
        const t = truth[src + x] !== 0 ? 1 : 0;
        const p = prediction[src + x] !== 0 ? 1 : 0;
        bt[dst + x] = t;
        bp[dst + x] = p;
        anyT |= t;
        anyP |= p;
        nb += t & p;
        np += p;
        nt += t;
      }
      this.rowAnyTruth[y + 1] = anyT;
      this.rowAnyPred[y + 1] = anyP;
    }
    this.truthVoxels += nt;
    this.predVoxels += np;
    this.bothVoxels += nb;
  }

  /**
   * Half code of every corner of one slice: bits 3..0 = voxels (y-1, x-1), (y-1, x), (y, x-1),
   * (y, x), the lower nibble of the official code (upper nibble: the same for the slice before).
   */
  private halfCodes(bits: Uint8Array, rowAny: Uint8Array, out: Uint8Array): void {
    const w = this.width;
    const cw = w + 1;
    for (let y = 0; y <= this.height; y++) {
      const o = y * cw;
      if ((rowAny[y] | rowAny[y + 1]) === 0) {
        out.fill(0, o, o + cw);
        continue;
      }
      // Padded row y is image row y-1 (above the corner), padded row y+1 is image row y (below).
      const above = y * w;
      const below = above + w;
      let left = 0;
      for (let x = 0; x < w; x++) {
        const r = (bits[above + x] << 1) | bits[below + x];
        out[o + x] = (left << 2) | r;
        left = r;
      }
      out[o + w] = left << 2;
    }
  }
}

/** Adds the surface areas of the corners between two slices (given as half codes) to `sums`. */
function accumulate(
  prevTruth: Uint8Array,
  curTruth: Uint8Array,
  prevPred: Uint8Array,
  curPred: Uint8Array,
  sums: Float64Array,
): void {
  const pt = new Uint32Array(prevTruth.buffer, prevTruth.byteOffset, prevTruth.length >> 2);
  const ct = new Uint32Array(curTruth.buffer, curTruth.byteOffset, curTruth.length >> 2);
  const pp = new Uint32Array(prevPred.buffer, prevPred.byteOffset, prevPred.length >> 2);
  const cp = new Uint32Array(curPred.buffer, curPred.byteOffset, curPred.length >> 2);
  let matched = 0;
  let truthArea = 0;
  let predArea = 0;
  for (let j = 0; j < pt.length; j++) {
    const a = pt[j];
    const b = ct[j];
    const c = pp[j];
    const d = cp[j];
    // Most corners of a vessel mask are far from any surface, or deep inside both masks.
    if ((a | b | c | d) === 0 || (a & b & c & d) === ALL_INTERIOR) continue;
    for (let k = j << 2, end = k + 4; k < end; k++) {
      const at = AREA[(prevTruth[k] << 4) | curTruth[k]];
      const ap = AREA[(prevPred[k] << 4) | curPred[k]];
      truthArea += at;
      predArea += ap;
      if (at > 0 && ap > 0) matched += at + ap;
    }
  }
  sums[0] += matched;
  sums[1] += truthArea + predArea;
  sums[2] += truthArea;
  sums[3] += predArea;
}
