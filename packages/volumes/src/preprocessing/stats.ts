import type { VolumeStats } from '../types.ts';

/**
 * Accumulates {@link VolumeStats} over slices fed one at a time (exact percentiles from a full
 * histogram: 256 or 65536 bins), so an importer computes them while streaming a kidney.
 */
export class StatsAccumulator {
  private readonly hist: Float64Array;
  private n = 0;
  private sum = 0;
  private sumSq = 0;
  private labelled = 0;
  private vessel = 0;

  constructor(readonly dtype: 'uint8' | 'uint16') {
    this.hist = new Float64Array(dtype === 'uint8' ? 256 : 65536);
  }

  addImage(image: Uint8Array | Uint16Array): void {
    const h = this.hist;
    let s = 0;
    let ss = 0;
    for (let i = 0; i < image.length; i++) {
      const v = image[i];
      h[v]++;
      s += v;
      ss += v * v;
    }
    this.n += image.length;
    this.sum += s;
    this.sumSq += ss;
  }

  addLabel(label: Uint8Array): void {
    let c = 0;
    for (let i = 0; i < label.length; i++) if (label[i] !== 0) c++;
    this.vessel += c;
    this.labelled += label.length;
  }

  finish(): VolumeStats {
    const { hist, n } = this;
    if (n === 0) throw new RangeError('no voxels were added');
    const pct = (q: number) => {
      const target = q * (n - 1);
      let acc = 0;
      for (let v = 0; v < hist.length; v++) {
        acc += hist[v];
        if (acc > target) return v;
      }
      return hist.length - 1;
    };
    const mean = this.sum / n;
    return {
      p005: pct(0.005),
      p995: pct(0.995),
      mean,
      std: Math.sqrt(Math.max(0, this.sumSq / n - mean * mean)),
      foregroundFraction: this.labelled > 0 ? this.vessel / this.labelled : null,
    };
  }
}
