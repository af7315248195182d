import { windowShape, type Box, type VolumeReader } from './types.ts';

/** Number of voxels in a box. */
export function boxSize(b: Box): number {
  return (b.z1 - b.z0) * (b.y1 - b.y0) * (b.x1 - b.x0);
}

/** Throws a RangeError unless the box is non-empty and inside a volume of `shape` [Z, Y, X]. */
export function checkBox(b: Box, shape: readonly [number, number, number]): void {
  const ok =
    b.z0 >= 0 && b.y0 >= 0 && b.x0 >= 0 && b.z1 <= shape[0] && b.y1 <= shape[1] && b.x1 <= shape[2] &&
    b.z1 > b.z0 && b.y1 > b.y0 && b.x1 > b.x0;
  if (!ok) {
    throw new RangeError(
      `box z ${b.z0}..${b.z1} y ${b.y0}..${b.y1} x ${b.x0}..${b.x1} is empty or outside a volume of shape ${shape.join('x')}`,
    );
  }
}

/** Copies a box out of a C-order [Z, Y, X] array. */
export function cropBox<T extends Uint8Array | Uint16Array>(data: T, shape: readonly [number, number, number], b: Box): T {
  checkBox(b, shape);
  const [, Y, X] = shape;
  const dx = b.x1 - b.x0;
  const out = new (data.constructor as new (n: number) => T)(boxSize(b));
  let o = 0;
  for (let z = b.z0; z < b.z1; z++) {
    for (let y = b.y0; y < b.y1; y++) {
      const s = (z * Y + y) * X + b.x0;
      out.set(data.subarray(s, s + dx), o);
      o += dx;
    }
  }
  return out;
}

/**
 * Reads a box of image or label voxels from any reader: through its box read when it has one,
 * otherwise through a z window of whole slices cropped to the box.
 */
export async function readBox(reader: VolumeReader, kind: 'image' | 'label', b: Box): Promise<Uint8Array | Uint16Array> {
  checkBox(b, reader.shape);
  if (kind === 'image' && reader.readImageBox) return reader.readImageBox(b);
  if (kind === 'label' && reader.readLabelBox) return reader.readLabelBox(b);
  const count = b.z1 - b.z0;
  const win = kind === 'image' ? await reader.readImage('z', b.z0, count) : await reader.readLabel('z', b.z0, count);
  const [, Y, X] = windowShape(reader.shape, 'z', count);
  return cropBox(win, [count, Y, X], { ...b, z0: 0, z1: count });
}
