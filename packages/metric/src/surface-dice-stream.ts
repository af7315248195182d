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
/** Where the byte at the lowest address sits in a Uint32 on this machine. */
const FIRST_BYTE_SHIFT = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 24;

/**
 * Streaming 3D surface Dice at tolerance 0 (and voxel Dice) over z slices pushed in order.
 *
 * Each slice is turned once into a grid of 4-bit "half codes", one per voxel-grid corner
 * ((H+1) x (W+1) corners, zero padding outside the slice). The official 8-bit neighbour code of a
 * corner between slices z-1 and z is `half(z-1) << 4 | half(z)`, so only the previous slice's half
 * codes are kept: memory is O(H*W) whatever the depth. The first push pairs the slice with an
 * all-zero slice above it and `result()` pairs the last one with an all-zero slice below it, which is
 * the zero padding of the official code.
 *
 * Speed comes from skipping empty space four voxels at a time: slices are copied (natively) into
 * row buffers whose stride is a multiple of 4 with zero rows above and below, so every row can be
 * read as 32-bit words, and both passes skip words that are zero in every mask they read.
 */
export class SurfaceDiceStream {
  readonly height: number;
  readonly width: number;
  /** Row stride of the copied slices: width rounded up to 4 (the padding stays zero). */
  private readonly stride: number;
  /** Row stride of the corner grids: one more corner than pixels, rounded up to 4. */
  private readonly cornerStride: number;
  /** Slices as copied, rows 1..H (rows 0 and H+1 stay zero). */
  private readonly rowsTruth: Uint8Array;
  private readonly rowsPred: Uint8Array;
  private readonly rowsTruth32: Uint32Array;
  private readonly rowsPred32: Uint32Array;
  /** Half codes of the previous and current slice, for truth and prediction. */
  private prevTruth: Uint8Array;
  private curTruth: Uint8Array;
  private prevPred: Uint8Array;
  private curPred: Uint8Array;
  private readonly zeros: Uint8Array;
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
    this.stride = (width + 3) & ~3;
    this.cornerStride = this.stride + 4;
    this.rowsTruth = new Uint8Array((height + 2) * this.stride);
    this.rowsPred = new Uint8Array((height + 2) * this.stride);
    this.rowsTruth32 = new Uint32Array(this.rowsTruth.buffer);
    this.rowsPred32 = new Uint32Array(this.rowsPred.buffer);
    const corners = (height + 1) * this.cornerStride;
    this.prevTruth = new Uint8Array(corners);
    this.curTruth = new Uint8Array(corners);
    this.prevPred = new Uint8Array(corners);
    this.curPred = new Uint8Array(corners);
    this.zeros = new Uint8Array(corners);
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
    this.copyRows(truth, this.rowsTruth);
    this.copyRows(prediction, this.rowsPred);
    this.halfCodes();
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

  private copyRows(mask: Uint8Array, rows: Uint8Array): void {
    const w = this.width;
    if (w === this.stride) {
      rows.set(mask, w);
      return;
    }
    for (let y = 0; y < this.height; y++) rows.set(mask.subarray(y * w, y * w + w), (y + 1) * this.stride);
  }

  /**
   * Half code of every corner, for both masks: bits 3..0 = voxels (y-1, x-1), (y-1, x), (y, x-1),
   * (y, x), the lower nibble of the official code (the upper nibble is the same for the slice
   * before). Corner row y reads copied rows y (above) and y+1 (below). Also counts voxels.
   */
  private halfCodes(): void {
    const t8 = this.rowsTruth;
    const p8 = this.rowsPred;
    const t32 = this.rowsTruth32;
    const p32 = this.rowsPred32;
    const outT = this.curTruth;
    const outP = this.curPred;
    const outT32 = new Uint32Array(outT.buffer);
    const outP32 = new Uint32Array(outP.buffer);
    const words = this.stride >> 2;
    let nt = 0;
    let np = 0;
    let nb = 0;
    for (let y = 0; y <= this.height; y++) {
      const above = y * this.stride;
      const below = above + this.stride;
      const o = y * this.cornerStride;
      let leftT = 0;
      let leftP = 0;
      for (let k = 0; k < words; k++) {
        const wa = (above >> 2) + k;
        const wb = (below >> 2) + k;
        const x = k << 2;
        if ((t32[wa] | t32[wb] | p32[wa] | p32[wb]) === 0) {
          // Empty space: only the first corner can see a voxel, on its left.
          outT32[(o >> 2) + k] = (leftT << 2) << FIRST_BYTE_SHIFT;
          outP32[(o >> 2) + k] = (leftP << 2) << FIRST_BYTE_SHIFT;
          leftT = 0;
          leftP = 0;
          continue;
        }
        for (let i = x; i < x + 4; i++) {
          const t = t8[below + i] !== 0 ? 1 : 0;
          const p = p8[below + i] !== 0 ? 1 : 0;
          const rt = (t8[above + i] !== 0 ? 2 : 0) | t;
          const rp = (p8[above + i] !== 0 ? 2 : 0) | p;
          outT[o + i] = (leftT << 2) | rt;
          outP[o + i] = (leftP << 2) | rp;
          leftT = rt;
          leftP = rp;
          nt += t;
          np += p;
          nb += t & p;
        }
      }
      // Last corner of the row (x = stride); corners past it stay zero from construction.
      outT[o + this.stride] = leftT << 2;
      outP[o + this.stride] = leftP << 2;
    }
    this.truthVoxels += nt;
    this.predVoxels += np;
    this.bothVoxels += nb;
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
