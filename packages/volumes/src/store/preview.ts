// Small max-pooled copies of binary volumes (labels, predicted masks) for the viewer's 3D view.
// One preview per array is computed once, from a scan of the whole array, and stored beside it in
// S3; every size the viewer asks for is pooled from that preview, never from the array again.
import { arrayPreviewKey, getObject, putObject } from '@capillary/storage';

type Shape = readonly [number, number, number];

/** Voxels visited between yields to the event loop: a few ms of work, so a server stays responsive. */
const VOXELS_PER_TURN = 2 ** 21;
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** Longest side of the stored preview: the largest size the viewer can ask for. */
export const PREVIEW_MAX_SIDE = 256;

/** A binary volume max-pooled by `factor` on every axis: C order [z, y, x], 0/1. */
export interface Preview {
  data: Uint8Array;
  shape: [number, number, number];
  factor: number;
}

/** The factor of the stored preview of an array of `shape`. */
export function previewBaseFactor(shape: Shape): number {
  return Math.max(1, Math.ceil(Math.max(...shape) / PREVIEW_MAX_SIDE));
}

/**
 * The pooling factor answering a request for longest side at most `size`: the smallest multiple of
 * the stored preview's factor that fits, so the answer is pooled exactly from the stored preview.
 * For volumes up to {@link PREVIEW_MAX_SIDE} a side this is just ceil(longest side / size). Two sizes
 * with the same factor have the same bytes, which is what caches key on.
 */
export function previewFactor(shape: Shape, size: number): number {
  const base = previewBaseFactor(shape);
  const wanted = Math.max(1, Math.ceil(Math.max(...shape) / size));
  return base * Math.ceil(wanted / base);
}

/** S3 key of the stored preview, inside the array's prefix (removed with it). */
export function previewKey(arrayKey: string, shape: Shape): string {
  return arrayPreviewKey(arrayKey, previewBaseFactor(shape));
}

const pooledShape = (shape: Shape, f: number): [number, number, number] => [Math.ceil(shape[0] / f), Math.ceil(shape[1] / f), Math.ceil(shape[2] / f)];

/**
 * Max-pools a binary volume by one integer factor on every axis: a block with any vessel voxel
 * stays vessel, so thin vessels survive. Reads z windows a chunk depth or more at a time (whole
 * multiples of the factor) and keeps only the small output, never the volume.
 */
export async function downsampleMax(
  shape: Shape,
  factor: number,
  read: (start: number, count: number) => Promise<Uint8Array | Uint16Array>,
): Promise<Preview> {
  const [Z, Y, X] = shape;
  const f = factor;
  const [, oy, ox] = pooledShape(shape, f);
  const out = new Uint8Array(Math.ceil(Z / f) * oy * ox);
  const xo = new Int32Array(X);
  for (let x = 0; x < X; x++) xo[x] = Math.floor(x / f);
  const step = f * Math.max(1, Math.ceil(32 / f));
  for (let z0 = 0; z0 < Z; z0 += step) {
    const count = Math.min(step, Z - z0);
    const win = await read(z0, count);
    for (let k = 0, since = 0; k < count; k++, since += Y * X) {
      if (since >= VOXELS_PER_TURN) {
        since = 0;
        await nextTurn();
      }
      const plane = Math.floor((z0 + k) / f) * oy * ox;
      for (let y = 0; y < Y; y++) {
        const rowOut = plane + Math.floor(y / f) * ox;
        const rowIn = (k * Y + y) * X;
        for (let x = 0; x < X; x++) if (win[rowIn + x]) out[rowOut + xo[x]] = 1;
      }
    }
  }
  return { data: out, shape: pooledShape(shape, f), factor: f };
}

/** Pools a preview further by `k` (max of each k x k x k block): exact, since max of maxes is the max. */
export async function poolPreview(p: Preview, k: number): Promise<Preview> {
  if (k === 1) return p;
  const [Z, Y, X] = p.shape;
  const [oz, oy, ox] = pooledShape(p.shape, k);
  const out = new Uint8Array(oz * oy * ox);
  for (let z = 0, since = 0; z < Z; z++, since += Y * X) {
    if (since >= VOXELS_PER_TURN) {
      since = 0;
      await nextTurn();
    }
    const plane = Math.floor(z / k) * oy * ox;
    for (let y = 0; y < Y; y++) {
      const rowOut = plane + Math.floor(y / k) * ox;
      const rowIn = (z * Y + y) * X;
      for (let x = 0; x < X; x++) if (p.data[rowIn + x]) out[rowOut + Math.floor(x / k)] = 1;
    }
  }
  return { data: out, shape: [oz, oy, ox], factor: p.factor * k };
}

/** The preview stored beside the array under `arrayKey`, or null when none is stored yet. */
export async function loadPreview(arrayKey: string, shape: Shape): Promise<Preview | null> {
  const factor = previewBaseFactor(shape);
  const pooled = pooledShape(shape, factor);
  const stored = await getObject(previewKey(arrayKey, shape));
  return stored && stored.length === pooled[0] * pooled[1] * pooled[2] ? { data: stored, shape: pooled, factor } : null;
}

/**
 * Scans a binary array once through `read` and stores its preview beside it. Arrays never change
 * once written (each import or prediction writes a fresh prefix), so a stored preview never goes stale.
 */
export async function buildPreview(
  arrayKey: string,
  shape: Shape,
  read: (start: number, count: number) => Promise<Uint8Array | Uint16Array>,
): Promise<Preview> {
  const built = await downsampleMax(shape, previewBaseFactor(shape), read);
  await putObject(previewKey(arrayKey, shape), built.data, 'application/octet-stream');
  return built;
}
