/**
 * Probabilities of one axis's planes, handed from where they are predicted to where they are merged
 * along z. Every axis is handed over at 16 bits (like the percentile spill), whether it goes through
 * a local spill file or through a shard's Zarr array in S3, so the one-worker and the sharded path
 * merge the very same numbers, in the same order, and produce byte-identical masks.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { setImmediate as turn } from 'node:timers/promises';
import type { Axis } from '@capillary/volumes';

/** The axis a plane's index runs along: xy planes are z slices, xz planes y rows, yz planes x columns. */
export const READ_AXIS: Record<'xy' | 'xz' | 'yz', Axis> = { xy: 'z', xz: 'y', yz: 'x' };

/** Levels of a handed-over probability: p is stored as round(p * PROBABILITY_LEVELS). */
export const PROBABILITY_LEVELS = 65535;

/** A plane of probabilities at 16 bits (clamped to [0, 1]). */
export function quantizeProbabilities(prob: Float32Array): Uint16Array {
  const q = new Uint16Array(prob.length);
  for (let i = 0; i < prob.length; i++) q[i] = Math.round(Math.min(1, Math.max(0, prob[i])) * PROBABILITY_LEVELS);
  return q;
}

/**
 * Adds plane-ordered 16-bit probabilities into a z slice [Y, X]: `planes` holds `count` planes of
 * `axis` starting at plane `first`, each already cut to this z (one row: X values for y planes, Y
 * values for x planes, Y * X for a z plane).
 */
export function addPlanesToSlice(axis: Axis, first: number, count: number, planes: Uint16Array, into: Float32Array, Y: number, X: number): void {
  if (axis === 'z') {
    for (let i = 0; i < into.length; i++) into[i] += planes[i] / PROBABILITY_LEVELS;
  } else if (axis === 'y') {
    for (let p = 0; p < count; p++) {
      const row = (first + p) * X;
      for (let x = 0; x < X; x++) into[row + x] += planes[p * X + x] / PROBABILITY_LEVELS;
    }
  } else {
    for (let p = 0; p < count; p++) for (let y = 0; y < Y; y++) into[y * X + first + p] += planes[p * Y + y] / PROBABILITY_LEVELS;
  }
}

/** One axis's probabilities, read back one z slice at a time, in order. */
export interface AxisSource {
  /** Adds this axis's probabilities of z slice `z` into `into` ([Y, X]). */
  addSlice(z: number, into: Float32Array): Promise<void>;
  close(): Promise<void> | void;
}

/** The xy planes as they stream out of the network: they are z slices already. */
export class StreamedZSource implements AxisSource {
  constructor(private readonly planes: AsyncGenerator<Float32Array>, private readonly Y: number, private readonly X: number) {}
  async addSlice(_z: number, into: Float32Array): Promise<void> {
    const { value, done } = await this.planes.next();
    if (done) throw new RangeError('the xy planes ended before the volume did');
    addPlanesToSlice('z', 0, 1, quantizeProbabilities(value), into, this.Y, this.X);
  }
  async close() {
    await this.planes.return(undefined);
  }
}

/** A local spill file of one axis's 16-bit planes, in plane order, read back along z. */
export class FileAxisSpill implements AxisSource {
  private readonly fd: number;
  private readonly rows: number;
  private readonly cols: number;
  constructor(
    file: string,
    private readonly axis: 'y' | 'x',
    private readonly shape: readonly [number, number, number],
  ) {
    this.fd = openSync(file, 'w+');
    const [Z, Y, X] = shape;
    [this.rows, this.cols] = axis === 'y' ? [Z, X] : [Z, Y];
  }
  /** Writes plane i (rows = Z, cols = X for y; Z, Y for x). */
  write(i: number, q: Uint16Array): void {
    writeSync(this.fd, new Uint8Array(q.buffer, q.byteOffset, q.byteLength), 0, q.byteLength, i * this.rows * this.cols * 2);
  }
  async addSlice(z: number, into: Float32Array): Promise<void> {
    const [, Y, X] = this.shape;
    const planes = this.axis === 'y' ? Y : X;
    const row = new Uint16Array(planes * this.cols);
    const bytes = new Uint8Array(row.buffer);
    for (let p = 0; p < planes; p++) readSync(this.fd, bytes, p * this.cols * 2, this.cols * 2, ((p * this.rows + z) * this.cols) * 2);
    addPlanesToSlice(this.axis, 0, planes, row, into, Y, X);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * z slices of the average over the axes' sources, in the order given: the one merge of both the
 * one-worker and the sharded path.
 */
export async function* mergeAxes(shape: readonly [number, number, number], sources: AxisSource[], signal?: AbortSignal, aborted?: () => Error): AsyncGenerator<Float32Array> {
  const [Z, Y, X] = shape;
  const n = sources.length;
  for (let z = 0; z < Z; z++) {
    if (signal?.aborted) throw aborted?.() ?? new Error('aborted');
    // A turn of the event loop a slice: sockets and timers must not starve (see yieldToEventLoop).
    await turn();
    const prob = new Float32Array(Y * X);
    for (const s of sources) await s.addSlice(z, prob);
    if (n > 1) for (let i = 0; i < prob.length; i++) prob[i] /= n;
    yield prob;
  }
}
