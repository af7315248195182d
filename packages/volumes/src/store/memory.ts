import { cropBox } from '../box.ts';
import { ForegroundIndexBuilder } from '../preprocessing/foreground.ts';
import { StatsAccumulator } from '../preprocessing/stats.ts';
import {
  axisLength,
  windowShape,
  type Axis,
  type Box,
  type ForegroundIndex,
  type VolumeDtype,
  type VolumeReader,
  type VolumeStats,
} from '../types.ts';

/** Copies a window of slices along an axis out of a C-order [Z, Y, X] array. */
export function sliceWindow<T extends Uint8Array | Uint16Array>(
  data: T,
  shape: readonly [number, number, number],
  axis: Axis,
  start: number,
  count: number,
): T {
  const [Z, Y, X] = shape;
  if (start < 0 || count < 1 || start + count > axisLength(shape, axis)) {
    throw new RangeError(`window ${start}+${count} is outside axis ${axis} of length ${axisLength(shape, axis)}`);
  }
  const [, rows, cols] = windowShape(shape, axis, count);
  const out = new (data.constructor as new (n: number) => T)(count * rows * cols);
  let o = 0;
  for (let i = start; i < start + count; i++) {
    if (axis === 'z') {
      out.set(data.subarray(i * Y * X, (i + 1) * Y * X), o);
      o += Y * X;
    } else if (axis === 'y') {
      for (let z = 0; z < Z; z++) {
        out.set(data.subarray(z * Y * X + i * X, z * Y * X + i * X + X), o);
        o += X;
      }
    } else {
      for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) out[o++] = data[z * Y * X + y * X + i];
    }
  }
  return out;
}

/** Computes the stored statistics of an image (and optional label) array held in memory. */
export function computeStats(image: Uint8Array | Uint16Array, label?: Uint8Array): VolumeStats {
  const acc = new StatsAccumulator(image instanceof Uint8Array ? 'uint8' : 'uint16');
  acc.addImage(image);
  if (label) acc.addLabel(label);
  return acc.finish();
}

/** A volume held in memory: for tests and small synthetic data, never for a kidney. */
export class MemoryVolume implements VolumeReader {
  readonly dtype: VolumeDtype;
  readonly hasLabels: boolean;
  readonly stats: VolumeStats;
  constructor(
    readonly id: string,
    readonly shape: readonly [number, number, number],
    private readonly image: Uint8Array | Uint16Array,
    private readonly label?: Uint8Array,
    stats?: VolumeStats,
  ) {
    const n = shape[0] * shape[1] * shape[2];
    if (image.length !== n) throw new RangeError(`image has ${image.length} voxels, shape ${shape.join('x')} needs ${n}`);
    if (label && label.length !== n) throw new RangeError(`label has ${label.length} voxels, shape ${shape.join('x')} needs ${n}`);
    this.dtype = image instanceof Uint8Array ? 'uint8' : 'uint16';
    this.hasLabels = !!label;
    this.stats = stats ?? computeStats(image, label);
  }
  async readImage(axis: Axis, start: number, count: number) {
    return sliceWindow(this.image, this.shape, axis, start, count);
  }
  async readLabel(axis: Axis, start: number, count: number) {
    if (!this.label) throw new Error(`volume ${this.id} has no labels`);
    return sliceWindow(this.label, this.shape, axis, start, count);
  }
  async readImageBox(box: Box) {
    return cropBox(this.image, this.shape, box);
  }
  async readLabelBox(box: Box) {
    if (!this.label) throw new Error(`volume ${this.id} has no labels`);
    return cropBox(this.label, this.shape, box);
  }
  private fg?: ForegroundIndex;
  async foregroundIndex(): Promise<ForegroundIndex> {
    if (this.fg) return this.fg;
    const [, Y, X] = this.shape;
    const b = new ForegroundIndexBuilder(this.shape);
    if (this.label) for (let z = 0; z < this.shape[0]; z++) b.addSlice(z, this.label.subarray(z * Y * X, (z + 1) * Y * X));
    this.fg = b.finish();
    return this.fg;
  }
  /** The whole image array (a view, not a copy): for tests and exporters of small volumes. */
  get imageData(): Uint8Array | Uint16Array {
    return this.image;
  }
  /** The whole label array (a view), when labelled. */
  get labelData(): Uint8Array | undefined {
    return this.label;
  }
}
