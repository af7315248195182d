import { Rng } from '../rng.ts';
import type { ForegroundIndex, VolumeReader } from '../types.ts';

/** Edge of the cubes the foreground index counts vessel voxels in. */
export const DEFAULT_FOREGROUND_CELL = 32;

/**
 * Builds a {@link ForegroundIndex} from z slices fed in order, holding only per-cell counters, so an
 * importer can build it while streaming a kidney. Deterministic: the reservoir draws come from a
 * fixed stream.
 */
export class ForegroundIndexBuilder {
  private readonly counts: Uint32Array;
  private readonly voxels: Int32Array;
  private readonly rng = Rng.of(0x5eed, 0xf00d);
  private readonly cy: number;
  private readonly cx: number;

  constructor(
    readonly shape: readonly [number, number, number],
    readonly cellSize = DEFAULT_FOREGROUND_CELL,
  ) {
    const cz = Math.ceil(shape[0] / cellSize);
    this.cy = Math.ceil(shape[1] / cellSize);
    this.cx = Math.ceil(shape[2] / cellSize);
    this.counts = new Uint32Array(cz * this.cy * this.cx);
    this.voxels = new Int32Array(this.counts.length * 3);
  }

  /** Adds z slice `z` (Y x X labels, non-zero = vessel). */
  addSlice(z: number, label: Uint8Array): void {
    const [, Y, X] = this.shape;
    if (label.length !== Y * X) throw new RangeError(`label slice has ${label.length} voxels, expected ${Y * X}`);
    const cs = this.cellSize;
    const rowBase = Math.floor(z / cs) * this.cy;
    for (let y = 0, i = 0; y < Y; y++) {
      const base = (rowBase + Math.floor(y / cs)) * this.cx;
      for (let x = 0; x < X; x++, i++) {
        if (label[i] === 0) continue;
        const c = base + Math.floor(x / cs);
        const n = ++this.counts[c];
        // Reservoir sampling of one voxel per cell: the k-th voxel replaces the kept one with probability 1/k.
        if (n === 1 || this.rng.int(n) === 0) {
          this.voxels[c * 3] = z;
          this.voxels[c * 3 + 1] = y;
          this.voxels[c * 3 + 2] = x;
        }
      }
    }
  }

  finish(): ForegroundIndex {
    const voxels: number[] = [];
    const counts: number[] = [];
    for (let c = 0; c < this.counts.length; c++) {
      if (this.counts[c] === 0) continue;
      counts.push(this.counts[c]);
      voxels.push(this.voxels[c * 3], this.voxels[c * 3 + 1], this.voxels[c * 3 + 2]);
    }
    return { cellSize: this.cellSize, voxels, counts };
  }
}

/**
 * The foreground index of a reader: its stored one when it has one, otherwise built by streaming its
 * label z slices (slow for a kidney; importers store it so this path is for small volumes).
 */
export async function foregroundIndexOf(reader: VolumeReader): Promise<ForegroundIndex> {
  if (reader.foregroundIndex) return reader.foregroundIndex();
  if (!reader.hasLabels) return { cellSize: DEFAULT_FOREGROUND_CELL, voxels: [], counts: [] };
  const b = new ForegroundIndexBuilder(reader.shape);
  for (let z = 0; z < reader.shape[0]; z++) b.addSlice(z, await reader.readLabel('z', z, 1));
  return b.finish();
}
