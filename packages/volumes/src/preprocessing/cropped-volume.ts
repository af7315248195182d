/**
 * A box of a volume seen as a volume of its own: validation predicts crops of a kidney with the
 * whole-volume inference path. Reads go through the source's box reads (chunked for stored volumes),
 * and the statistics stay the source's, so a crop is normalised exactly as the whole volume is.
 */
import { checkBox, cropBox, readBox } from '../box.ts';
import { axisLength, windowShape, type Axis, type Box, type VolumeDtype, type VolumeReader, type VolumeStats } from '../types.ts';

/** Reorders a C-order [Z, Y, X] box into the window layout of `axis` ([count, rows, cols]). */
function toWindow<T extends Uint8Array | Uint16Array>(data: T, shape: readonly [number, number, number], axis: Axis): T {
  if (axis === 'z') return data;
  const [Z, Y, X] = shape;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  let o = 0;
  if (axis === 'y') {
    for (let y = 0; y < Y; y++) for (let z = 0; z < Z; z++) for (let x = 0; x < X; x++) out[o++] = data[(z * Y + y) * X + x];
  } else {
    for (let x = 0; x < X; x++) for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) out[o++] = data[(z * Y + y) * X + x];
  }
  return out;
}

export class CroppedVolume implements VolumeReader {
  readonly id: string;
  readonly shape: readonly [number, number, number];
  readonly dtype: VolumeDtype;
  readonly hasLabels: boolean;
  readonly stats: VolumeStats;
  readonly hasMask?: boolean;

  constructor(
    readonly source: VolumeReader,
    readonly box: Box,
  ) {
    checkBox(box, source.shape);
    this.id = `${source.id}[${box.z0}:${box.z1},${box.y0}:${box.y1},${box.x0}:${box.x1}]`;
    this.shape = [box.z1 - box.z0, box.y1 - box.y0, box.x1 - box.x0];
    this.dtype = source.dtype;
    this.hasLabels = source.hasLabels;
    this.stats = source.stats;
    if (source.hasMask && source.readMask) {
      this.hasMask = true;
      this.readMask = (axis, start, count) => this.window(axis, start, count, (b) => this.maskBox(b));
    }
  }

  readMask?: (axis: Axis, start: number, count: number) => Promise<Uint8Array>;

  readImage(axis: Axis, start: number, count: number): Promise<Uint8Array | Uint16Array> {
    return this.window(axis, start, count, (b) => readBox(this.source, 'image', b));
  }

  readLabel(axis: Axis, start: number, count: number): Promise<Uint8Array> {
    if (!this.hasLabels) throw new Error(`volume ${this.id} has no labels`);
    return this.window(axis, start, count, (b) => readBox(this.source, 'label', b) as Promise<Uint8Array>);
  }

  readImageBox(b: Box): Promise<Uint8Array | Uint16Array> {
    return readBox(this.source, 'image', this.toSource(b));
  }

  readLabelBox(b: Box): Promise<Uint8Array> {
    return readBox(this.source, 'label', this.toSource(b)) as Promise<Uint8Array>;
  }

  /** A box of this crop in the source's coordinates. */
  private toSource(b: Box): Box {
    checkBox(b, this.shape);
    const o = this.box;
    return { z0: o.z0 + b.z0, z1: o.z0 + b.z1, y0: o.y0 + b.y0, y1: o.y0 + b.y1, x0: o.x0 + b.x0, x1: o.x0 + b.x1 };
  }

  /** The slab of `count` planes from `start` along `axis`, read as one source box and laid out as a window. */
  private async window<T extends Uint8Array | Uint16Array>(axis: Axis, start: number, count: number, read: (b: Box) => Promise<T>): Promise<T> {
    if (start < 0 || count < 1 || start + count > axisLength(this.shape, axis)) {
      throw new RangeError(`window ${start}+${count} is outside axis ${axis} of length ${axisLength(this.shape, axis)}`);
    }
    const [Z, Y, X] = this.shape;
    const along = (a: Axis, size: number) => (axis === a ? [start, start + count] : [0, size]);
    const [z0, z1] = along('z', Z);
    const [y0, y1] = along('y', Y);
    const [x0, x1] = along('x', X);
    const slab: Box = { z0, z1, y0, y1, x0, x1 };
    const data = await read(this.toSource(slab));
    const out = toWindow(data, [slab.z1 - slab.z0, slab.y1 - slab.y0, slab.x1 - slab.x0], axis);
    const [n, rows, cols] = windowShape(this.shape, axis, count);
    if (out.length !== n * rows * cols) throw new Error(`crop ${this.id}: read ${out.length} voxels, expected ${n * rows * cols}`);
    return out;
  }

  /** The field-of-view mask of a source box: masks are read by whole z slices, then cropped. */
  private async maskBox(b: Box): Promise<Uint8Array> {
    const count = b.z1 - b.z0;
    const [, Y, X] = this.source.shape;
    const win = await this.source.readMask!('z', b.z0, count);
    return cropBox(win, [count, Y, X], { ...b, z0: 0, z1: count });
  }
}
