/**
 * Whole-volume inference that streams: slices are read, tiled with overlap, predicted, blended and
 * handed out one z slice at a time. Memory depends on the slice size, not the depth. Predictions
 * along y and x (xz and yz planes) are spilled to temporary files as 16-bit probabilities and merged
 * in a final pass over z; a sharded prediction merges its shards' arrays the same way
 * (`axis-sources.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { setImmediate as turn } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { normalizeInto, axisLength, windowShape, type Axis, type VolumeReader, ResampledVolume } from '@capillary/volumes';
import { blendWeights, tileStarts } from './tiling.ts';
import { removeSmallComponents } from './components.ts';
import { QuantileSpill } from './quantile-spill.ts';
import { rescaledProbabilities } from './rescale.ts';
import { FileAxisSpill, mergeAxes, quantizeProbabilities, READ_AXIS, StreamedZSource, type AxisSource } from './axis-sources.ts';
import { AbortError } from './errors.ts';

export type PlaneAxis = 'xy' | 'xz' | 'yz';

/** What inference needs of a network ({@link SegmentationModel} is one). */
export interface Predictor {
  /** Input sizes must be multiples of this. */
  readonly stride: number;
  readonly inChannels: number;
  /** Output slices per window, centred on the input's centre (k out; default 1). */
  readonly outChannels?: number;
  /** Probabilities [N, H, W, outChannels] for an NHWC batch with `inChannels` channels. */
  predict(x: tf.Tensor4D): tf.Tensor4D;
}

export interface PredictOptions {
  axes: PlaneAxis[];
  /** k neighbouring slices as channels (must match the model). */
  slices: number;
  tileSize: number;
  /** Share of a tile that overlaps its neighbour, in [0, 0.9]. */
  overlap: number;
  /** Average over horizontal/vertical flips (4 passes). */
  tta: boolean;
  threshold: number;
  /**
   * Percentile threshold: the threshold that makes this share of the volume's voxels positive,
   * instead of `threshold` (probabilities are spilled at 16 bits until it is known).
   */
  positiveFraction?: number;
  /**
   * Resample the volume by this factor before prediction (streamed through a
   * {@link ResampledVolume}) and the probabilities back to its grid after it.
   */
  predictScale?: number;
  /** Drop 3D connected components (26-connected) smaller than this many voxels. */
  minComponentVoxels?: number;
  /** Tiles per forward pass (default {@link tilesPerPass}). */
  batchSize?: number;
  signal?: AbortSignal;
  onSlice: (z: number, mask: Uint8Array, prob?: Float32Array) => Promise<void> | void;
}

export interface PredictSummary {
  slices: number;
  foregroundVoxels: number;
  /** The probability threshold used (the one found when `positiveFraction` was given). */
  threshold: number;
  durationMs: number;
}

const abortError = () => new AbortError('prediction aborted');

/**
 * Keeps the k normalised planes around the current index along one axis (edges repeat the first
 * or last plane), reading each plane once.
 */
class PlaneWindow {
  private readonly planes = new Map<number, Float32Array>();
  constructor(
    private readonly volume: VolumeReader,
    private readonly axis: Axis,
    private readonly k: number,
    private readonly size: number,
  ) {}
  async around(i: number): Promise<Float32Array[]> {
    const h = (this.k - 1) / 2;
    const L = axisLength(this.volume.shape, this.axis);
    const idx = Array.from({ length: this.k }, (_, j) => Math.min(L - 1, Math.max(0, i - h + j)));
    for (const key of [...this.planes.keys()]) if (key < idx[0]) this.planes.delete(key);
    for (const j of idx) {
      if (this.planes.has(j)) continue;
      const raw = await this.volume.readImage(this.axis, j, 1);
      this.planes.set(j, normalizeInto(raw, this.volume.stats, new Float32Array(this.size)));
    }
    return idx.map((j) => this.planes.get(j)!);
  }
}

/**
 * Tiles per forward pass: small tiles are batched up to 2^18 pixels (16 of 128 x 128), because a
 * pass of four 64 x 64 tiles spends as much time in per-call overhead as in the network (bench
 * predict: 0.77 of the bare passes at 4, 0.94 at 16, and twice the voxels a second); big tiles go
 * alone or in fours, which bounds activation memory as before.
 */
export function tilesPerPass(tileSize: number): number {
  return Math.max(1, Math.min(16, Math.floor(2 ** 18 / (tileSize * tileSize))));
}

/** Predicts one plane [rows, cols] from its k normalised neighbour planes (the centre output slice). */
export async function predictPlane(
  model: Predictor,
  planes: Float32Array[],
  rows: number,
  cols: number,
  o: { tileSize: number; overlap: number; tta: boolean; batchSize?: number },
): Promise<Float32Array> {
  const out = await predictPlanes(model, planes, rows, cols, o);
  return out[(out.length - 1) / 2];
}

/** Predicts the `outChannels` planes [rows, cols] around the centre of k normalised neighbour planes. */
export async function predictPlanes(
  model: Predictor,
  planes: Float32Array[],
  rows: number,
  cols: number,
  o: { tileSize: number; overlap: number; tta: boolean; batchSize?: number },
): Promise<Float32Array[]> {
  const T = o.tileSize;
  const k = planes.length;
  const m = model.outChannels ?? 1;
  const weights = blendWeights(T);
  const acc = Array.from({ length: m }, () => new Float32Array(rows * cols));
  const wsum = new Float32Array(rows * cols);
  const tiles: Array<[number, number]> = [];
  for (const r of tileStarts(rows, T, o.overlap)) for (const c of tileStarts(cols, T, o.overlap)) tiles.push([r, c]);
  const B = o.batchSize ?? tilesPerPass(T);
  for (let b = 0; b < tiles.length; b += B) {
    const batch = tiles.slice(b, b + B);
    const x = new Float32Array(batch.length * T * T * k);
    batch.forEach(([r0, c0], t) => {
      const base = t * T * T * k;
      for (let r = 0; r < T && r0 + r < rows; r++) {
        for (let c = 0; c < T && c0 + c < cols; c++) {
          const src = (r0 + r) * cols + c0 + c;
          const dst = base + (r * T + c) * k;
          for (let j = 0; j < k; j++) x[dst + j] = planes[j][src];
        }
      }
    });
    const probs = tf.tidy(() => {
      const input = tf.tensor4d(x, [batch.length, T, T, k]);
      if (!o.tta) return model.predict(input);
      let sum = model.predict(input);
      for (const axes of [[2], [1], [1, 2]]) {
        const flipped = tf.reverse(input, axes);
        sum = tf.add(sum, tf.reverse(model.predict(flipped as tf.Tensor4D), axes));
      }
      return tf.div(sum, 4);
    });
    const p = (await probs.data()) as Float32Array;
    probs.dispose();
    batch.forEach(([r0, c0], t) => {
      const base = t * T * T * m;
      for (let r = 0; r < T && r0 + r < rows; r++) {
        for (let c = 0; c < T && c0 + c < cols; c++) {
          const w = weights[r * T + c];
          const dst = (r0 + r) * cols + c0 + c;
          const src = base + (r * T + c) * m;
          for (let j = 0; j < m; j++) acc[j][dst] += w * p[src + j];
          wsum[dst] += w;
        }
      }
    });
  }
  for (const a of acc) for (let i = 0; i < a.length; i++) a[i] /= wsum[i];
  return acc;
}

/**
 * Probabilities of the planes `range` [start, end) along one axis, in order. With k out, plane i
 * averages the output slices of every window that covers it (centres i - h .. i + h inside the
 * volume), summed in the order of their centres whatever the range, so a plane comes out the same
 * in a shard as in a whole-axis pass. A plane is handed out as soon as the last window covering it
 * is predicted, so at most k accumulate.
 */
async function* axisProbabilities(model: Predictor, volume: VolumeReader, axis: Axis, o: PredictOptions, range?: readonly [number, number]): AsyncGenerator<Float32Array> {
  const [, rows, cols] = windowShape(volume.shape, axis, 1);
  const L = axisLength(volume.shape, axis);
  const [start, end] = range ?? [0, L];
  const m = model.outChannels ?? 1;
  const h = (m - 1) / 2;
  const tileOpts = { tileSize: o.tileSize, overlap: o.overlap, tta: o.tta, batchSize: o.batchSize };
  const win = new PlaneWindow(volume, axis, o.slices, rows * cols);
  const acc = new Map<number, { sum: Float32Array; n: number }>();
  let next = start;
  const done = (i: number) => {
    const a = acc.get(i)!;
    acc.delete(i);
    if (a.n > 1) for (let j = 0; j < a.sum.length; j++) a.sum[j] /= a.n;
    return a.sum;
  };
  // The halo: windows centred up to h planes outside the range still cover planes inside it.
  for (let c = Math.max(0, start - h); c < Math.min(L, end + h); c++) {
    if (o.signal?.aborted) throw abortError();
    await yieldToEventLoop();
    const out = await predictPlanes(model, await win.around(c), rows, cols, tileOpts);
    for (let j = 0; j < m; j++) {
      const i = c - h + j;
      if (i < start || i >= end) continue;
      const a = acc.get(i);
      if (!a) acc.set(i, { sum: out[j], n: 1 });
      else {
        for (let q = 0; q < a.sum.length; q++) a.sum[q] += out[j][q];
        a.n++;
      }
    }
    for (; next <= c - h && next < end; next++) yield done(next);
  }
  for (; next < end; next++) yield done(next);
}

/**
 * Lets the event loop turn once. Everything a plane awaits can resolve as a microtask (cached
 * chunks, a synchronous native backend), and then no I/O callback or timer runs for as long as the
 * prediction lasts: the S3 client's keep-alive sockets that the server closed meanwhile look alive,
 * and the next burst of chunk reads and mask uploads (every 32 slices, minutes later on a big
 * slice) fails on them with ECONNRESET, which reads as an outage and hands the run back.
 */
export const yieldToEventLoop = () => turn();

/** One shard of a prediction: the planes [start, end) along one plane axis. */
export interface PlaneRange {
  plane: PlaneAxis;
  start: number;
  end: number;
}

/** The grid prediction runs on: the volume's, or the resampled one of `predictScale`. */
export function predictionGrid(volume: VolumeReader, predictScale?: number): VolumeReader {
  return predictScale !== undefined && predictScale !== 1 ? new ResampledVolume(volume, predictScale) : volume;
}

/**
 * Predicts one shard and hands out its planes in order at 16 bits (planes of `range.plane` on the
 * prediction grid: rows = Z, cols = X for xz; Z, Y for yz; Y, X for xy).
 */
export async function predictPlaneRange(
  model: Predictor,
  volume: VolumeReader,
  range: PlaneRange,
  o: Omit<PredictOptions, 'onSlice' | 'axes'>,
  write: (plane: Uint16Array) => Promise<void> | void,
): Promise<void> {
  checkOptions(model, { ...o, axes: [range.plane] });
  const grid = predictionGrid(volume, o.predictScale);
  for await (const prob of axisProbabilities(model, grid, READ_AXIS[range.plane], { ...o, axes: [range.plane], onSlice: () => undefined }, [range.start, range.end])) {
    await write(quantizeProbabilities(prob));
  }
}

/** What turns merged probabilities into masks: the same for one worker and for shards. */
export type FinishOptions = Pick<PredictOptions, 'threshold' | 'positiveFraction' | 'predictScale' | 'minComponentVoxels' | 'signal' | 'onSlice'>;

/** Where each axis's probabilities come from, given the prediction grid. */
export type AxisSources = (grid: VolumeReader) => AxisSource[] | Promise<AxisSource[]>;

/**
 * The one-worker sources: xz and yz are predicted first and spilled to local files, xy streams
 * while the slices are merged.
 */
function localSources(model: Predictor, o: PredictOptions, dir: () => string): AxisSources {
  return async (grid) => {
    const [, Y, X] = grid.shape;
    const sources: AxisSource[] = [];
    for (const a of o.axes) {
      if (a === 'xy') {
        sources.push(new StreamedZSource(axisProbabilities(model, grid, 'z', o), Y, X));
        continue;
      }
      const axis = READ_AXIS[a] as 'y' | 'x';
      const spill = new FileAxisSpill(path.join(dir(), `${a}.u16`), axis, grid.shape);
      sources.push(spill);
      let i = 0;
      for await (const prob of axisProbabilities(model, grid, axis, o)) spill.write(i++, quantizeProbabilities(prob));
    }
    return sources;
  };
}

/** Probability z slices of the volume's own grid, merged from the axes' sources on the prediction grid. */
async function* volumeProbabilities(volume: VolumeReader, o: FinishOptions, sourcesOf: AxisSources): AsyncGenerator<Float32Array> {
  const fine = predictionGrid(volume, o.predictScale);
  const merged = async function* (grid: VolumeReader) {
    const sources = await sourcesOf(grid);
    try {
      yield* mergeAxes(grid.shape, sources, o.signal, abortError);
    } finally {
      for (const s of sources) await s.close();
    }
  };
  if (fine === volume) yield* merged(volume);
  else yield* rescaledProbabilities(volume, o.predictScale!, () => merged(fine));
}

function checkOptions(model: Predictor, o: Pick<PredictOptions, 'slices' | 'tileSize' | 'overlap' | 'axes' | 'positiveFraction' | 'predictScale'>) {
  if (o.slices !== model.inChannels) throw new RangeError(`model takes ${model.inChannels} slices, options ask for ${o.slices}`);
  if (o.tileSize % model.stride) throw new RangeError(`tileSize ${o.tileSize} is not divisible by the model's stride ${model.stride}`);
  if (!(o.overlap >= 0 && o.overlap <= 0.9)) throw new RangeError(`overlap must be in [0, 0.9], got ${o.overlap}`);
  if (o.axes.length === 0) throw new RangeError('axes must not be empty');
  if (o.positiveFraction !== undefined && !(o.positiveFraction > 0 && o.positiveFraction <= 1)) throw new RangeError(`positiveFraction must be in (0, 1], got ${o.positiveFraction}`);
  if (o.predictScale !== undefined && !(o.predictScale > 0)) throw new RangeError(`predictScale must be positive, got ${o.predictScale}`);
}

/**
 * Predicts a whole volume and calls `onSlice` for z = 0, 1, ... in order with the 0/1 mask (and the
 * averaged probability) of that slice.
 */
export async function predictVolume(model: Predictor, volume: VolumeReader, options: PredictOptions): Promise<PredictSummary> {
  checkOptions(model, options);
  let dir: string | undefined;
  const spillDir = () => (dir ??= mkdtempSync(path.join(os.tmpdir(), 'capillary-predict-')));
  try {
    return await finishVolume(volume, options, localSources(model, options, spillDir));
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Thresholds (fixed or percentile), filters components and hands out the mask slices of a volume
 * whose axes' probabilities come from `sourcesOf`: local spills (one worker) or shards' arrays.
 */
export async function finishVolume(volume: VolumeReader, options: FinishOptions, sourcesOf: AxisSources): Promise<PredictSummary> {
  const t0 = performance.now();
  const o = options;
  const [Z, Y, X] = volume.shape;
  const probabilities = volumeProbabilities(volume, o, sourcesOf);
  const sink = o.minComponentVoxels && o.minComponentVoxels > 1 ? removeSmallComponents(Y, X, o.minComponentVoxels, o.onSlice) : undefined;
  const emit = sink ? sink.push : o.onSlice;
  const spill = o.positiveFraction !== undefined ? new QuantileSpill(Y * X) : undefined;
  let fg = 0;
  let threshold = o.threshold;
  try {
    let z = 0;
    for await (const prob of probabilities) {
      if (spill) spill.write(z++, prob);
      else {
        const mask = new Uint8Array(Y * X);
        for (let i = 0; i < mask.length; i++) if (prob[i] > threshold) mask[i] = 1;
        if (!sink) for (let i = 0; i < mask.length; i++) fg += mask[i];
        await emit(z++, mask, prob);
      }
    }
    if (spill) {
      const level = spill.levelFor(o.positiveFraction!);
      threshold = level / QuantileSpill.LEVELS;
      for (let zz = 0; zz < Z; zz++) {
        if (o.signal?.aborted) throw abortError();
        const q = spill.read(zz);
        const mask = new Uint8Array(Y * X);
        const prob = new Float32Array(Y * X);
        for (let i = 0; i < mask.length; i++) {
          prob[i] = q[i] / QuantileSpill.LEVELS;
          if (q[i] > level) mask[i] = 1;
        }
        if (!sink) for (let i = 0; i < mask.length; i++) fg += mask[i];
        await emit(zz, mask, prob);
      }
    }
    if (sink) fg = await sink.finish();
    return { slices: Z, foregroundVoxels: fg, threshold, durationMs: performance.now() - t0 };
  } finally {
    spill?.close();
    sink?.dispose();
    await probabilities.return(undefined);
  }
}
