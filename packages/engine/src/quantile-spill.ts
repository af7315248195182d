/** Probabilities spilled to disk until a percentile threshold is known (whole volume, streamed). */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** 16-bit spill of probability slices and their histogram, for a threshold known only at the end. */
export class QuantileSpill {
  static readonly LEVELS = 65535;
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'capillary-quantile-'));
  private readonly fd = openSync(path.join(this.dir, 'prob.u16'), 'w+');
  readonly histogram = new Float64Array(QuantileSpill.LEVELS + 1);
  private voxels = 0;
  constructor(private readonly sliceSize: number) {}
  write(z: number, prob: Float32Array): void {
    const q = new Uint16Array(prob.length);
    for (let i = 0; i < prob.length; i++) {
      const v = Math.round(Math.min(1, Math.max(0, prob[i])) * QuantileSpill.LEVELS);
      q[i] = v;
      this.histogram[v]++;
    }
    this.voxels += prob.length;
    writeSync(this.fd, new Uint8Array(q.buffer), 0, q.byteLength, z * this.sliceSize * 2);
  }
  /** The level b such that the share of voxels above b is closest to `fraction`. */
  levelFor(fraction: number): number {
    const target = fraction * this.voxels;
    let above = 0;
    let best = QuantileSpill.LEVELS;
    let bestGap = target; // level LEVELS: nothing above it
    for (let b = QuantileSpill.LEVELS - 1; b >= 0; b--) {
      above += this.histogram[b + 1];
      const gap = Math.abs(above - target);
      if (gap < bestGap) {
        bestGap = gap;
        best = b;
      }
      if (above > target) break;
    }
    return best;
  }
  read(z: number): Uint16Array {
    const q = new Uint16Array(this.sliceSize);
    readSync(this.fd, new Uint8Array(q.buffer), 0, q.byteLength, z * this.sliceSize * 2);
    return q;
  }
  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

