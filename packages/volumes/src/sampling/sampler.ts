import { issueText, samplingRuleIssues } from '@capillary/contracts';
import { readBox } from '../box.ts';
import { foregroundIndexOf } from '../preprocessing/foreground.ts';
import { normalizeSlice } from '../preprocessing/normalize.ts';
import { mix32, Rng } from '../rng.ts';
import { AUGMENTATIONS, apply, bilinear, intensity, rotationMatrix, trilinear, type AugmentationName, type IntensityTransform } from './augmentations.ts';
import { axisLength, windowShape, type Axis, type Box, type ForegroundIndex, type VolumeReader } from '../types.ts';

/** Slice plane a tile lies in: 'xy' slices are cut along z, 'xz' along y, 'yz' along x. */
export type SliceAxis = 'xy' | 'xz' | 'yz';

/** The reader axis that a plane's slices are cut along. */
export const SLICE_AXIS: Readonly<Record<SliceAxis, Axis>> = { xy: 'z', xz: 'y', yz: 'x' };

export interface TileSamplerOptions {
  /** Labelled volumes to draw from; each is drawn with probability proportional to its voxel count. */
  volumes: VolumeReader[];
  tileSize: number;
  /** k (odd): neighbouring slices stacked as channels, centred on the labelled slice. */
  slices: number;
  axes: SliceAxis[];
  batchSize: number;
  /** Probability with which each augmentation transform fires, independently. */
  augmentationP: number;
  seed: number;
  /** Share of tiles centred near a labelled vessel voxel (default 0.5); the rest are uniform. */
  foregroundShare?: number;
  /** Batches prepared ahead of the trainer (default 2). */
  prefetch?: number;
  /** Range of the scale augmentation, log-uniform (default [0.75, 1.33], about 50 um vs 63 um voxels). */
  scaleRange?: [number, number];
  /** Which transforms may fire (default all). */
  transforms?: AugmentationName[];
  /** k out (odd, at most `slices`): label slices centred on the centre slice (default 1). */
  outputSlices?: number;
  /**
   * Probability that a tile is cut from its plane rotated in 3D, about a uniformly random axis
   * through the tile centre, by up to `rotation3dMaxDegrees` (default 0: never; not drawn at all).
   */
  rotation3dP?: number;
  /** Largest angle of that rotation (default 30). */
  rotation3dMaxDegrees?: number;
}

/** Options added after the first checkpoints: left out of the fingerprint at their defaults. */
const LATER_DEFAULTS = { outputSlices: 1, rotation3dP: 0, rotation3dMaxDegrees: 30 } as const;

/** Where a tile came from and what was done to it (for logging and tests). */
export interface TileInfo extends IntensityTransform {
  volumeId: string;
  axis: SliceAxis;
  /** Centre: slice index along the axis, row and column in that slice's plane. */
  centre: [number, number, number];
  foreground: boolean;
  flipRows: boolean;
  flipCols: boolean;
  /** Quarter turns. */
  rot90: number;
  reverseSlices: boolean;
  scale: number;
  noiseSeed: number;
  /** A 3D rotation of the sampled plane (unit axis in the plane's (slice, row, column) frame, degrees). */
  rotation3d?: { axis: [number, number, number]; degrees: number };
}

export interface Batch {
  /** NHWC, k channels, normalised to [0, 1] (augmentation may push values slightly outside). */
  x: Float32Array;
  /** NHWC, `outputSlices` channels, 0/1 labels of the slices centred on the centre slice. */
  y: Float32Array;
  /** [n, h, w, k] */
  shape: [number, number, number, number];
  /** Channels of `y`. */
  labelChannels: number;
  tiles: TileInfo[];
}

/** JSON form of a sampler's position: enough to resume the exact sequence of batches. */
export interface TileSamplerState {
  version: 1;
  /** Identifies the configuration; restoring into a sampler built differently is refused. */
  fingerprint: string;
  /** Index of the next batch {@link TileSampler.next} returns. */
  cursor: number;
  /** State of the random stream of batch `cursor` before its first draw (informative; derivable). */
  rng: number[];
}

/** Thrown when a state cannot be restored into this sampler. */
export class SamplerStateError extends Error {
  override name = 'SamplerStateError';
}

/**
 * Draws training batches of 2.5D tiles from volumes, with foreground bias, per-volume
 * normalisation and augmentation, prefetching ahead of the trainer.
 *
 * Determinism: batch i draws all its randomness (volume, axis, position, augmentation, noise seed)
 * from its own stream, `Rng.of(seed, i)`. A batch therefore depends only on (seed, i, options,
 * volume contents), never on when it was prefetched or how reads interleave, and the state is just
 * the cursor: a sampler restored with {@link setState} yields exactly the batches an uninterrupted
 * one would, whatever was prefetched before.
 */
export class TileSampler {
  private readonly opts: Required<Omit<TileSamplerOptions, 'volumes'>>;
  private readonly volumes: VolumeReader[];
  private readonly cumWeights: number[];
  private readonly fingerprint: string;
  private fg?: Promise<ForegroundIndex[]>;
  private cursor = 0;
  private readonly queue = new Map<number, Promise<Batch>>();
  private closed = false;

  constructor(options: TileSamplerOptions) {
    const { volumes, ...rest } = options;
    this.opts = { foregroundShare: 0.5, prefetch: 2, scaleRange: [0.75, 1.33], transforms: [...AUGMENTATIONS], ...LATER_DEFAULTS, ...rest };
    const o = this.opts;
    if (volumes.length === 0) throw new RangeError('TileSampler needs at least one volume');
    for (const v of volumes) if (!v.hasLabels) throw new RangeError(`TileSampler needs labelled volumes; volume ${v.id} has no labels`);
    const issues = samplingRuleIssues(o);
    if (issues.length) throw new RangeError(issues.map(issueText).join('; '));
    const unknown = o.transforms.filter((t) => !(AUGMENTATIONS as readonly string[]).includes(t));
    if (unknown.length) throw new RangeError(`unknown augmentation ${unknown.join(', ')}; known: ${AUGMENTATIONS.join(', ')}`);
    if (!(o.foregroundShare >= 0 && o.foregroundShare <= 1)) throw new RangeError(`foregroundShare must be in [0, 1], got ${o.foregroundShare}`);
    if (!Number.isInteger(o.prefetch) || o.prefetch < 0) throw new RangeError(`prefetch must be a non-negative integer, got ${o.prefetch}`);
    this.volumes = volumes;
    let acc = 0;
    this.cumWeights = volumes.map((v) => (acc += v.shape[0] * v.shape[1] * v.shape[2]));
    const later = Object.fromEntries(Object.entries(LATER_DEFAULTS).map(([k, d]) => [k, o[k as keyof typeof LATER_DEFAULTS] === d ? undefined : o[k as keyof typeof LATER_DEFAULTS]]));
    this.fingerprint = JSON.stringify({ ...o, ...later, prefetch: undefined, volumes: volumes.map((v) => [v.id, ...v.shape]) });
  }

  /** The next batch; starts preparing the following ones. */
  async next(): Promise<Batch> {
    if (this.closed) throw new Error('TileSampler is closed');
    const i = this.cursor++;
    const p = this.queue.get(i) ?? this.produce(i);
    this.queue.delete(i);
    this.fill();
    return p;
  }

  getState(): TileSamplerState {
    return { version: 1, fingerprint: this.fingerprint, cursor: this.cursor, rng: this.batchRng(this.cursor).getState() };
  }

  /**
   * Resumes at a state from {@link getState}; drops whatever was prefetched. `retuned` names
   * options that may differ from the saved ones: population-based training continues another
   * member's run under a perturbed augmentation probability, and the batches go on from the
   * cursor under the new one.
   */
  setState(state: unknown, retuned: readonly (keyof TileSamplerOptions)[] = []): void {
    const s = state as Partial<TileSamplerState> | null;
    if (!s || s.version !== 1 || !Number.isInteger(s.cursor) || (s.cursor as number) < 0) {
      throw new SamplerStateError(`not a TileSampler state: ${JSON.stringify(state)?.slice(0, 200)}`);
    }
    if (without(s.fingerprint, retuned) !== without(this.fingerprint, retuned)) {
      throw new SamplerStateError('sampler state was saved with different options or volumes; cannot resume it here');
    }
    this.queue.clear();
    this.cursor = s.cursor as number;
  }

  /** Stops prefetching; later calls to next() throw. */
  close(): void {
    this.closed = true;
    this.queue.clear();
  }

  private fill(): void {
    for (let i = this.cursor; i < this.cursor + this.opts.prefetch; i++) {
      if (this.queue.has(i)) continue;
      const p = this.produce(i);
      p.catch(() => undefined); // surfaced when next() takes it; dropped ones must not crash the process
      this.queue.set(i, p);
    }
  }

  private batchRng(i: number): Rng {
    return Rng.of(this.opts.seed, i);
  }

  private async produce(i: number): Promise<Batch> {
    this.fg ??= Promise.all(this.volumes.map((v) => foregroundIndexOf(v))).catch((e) => {
      this.fg = undefined; // a failed read (S3 hiccup) is retried by the next batch, not cached
      throw e;
    });
    const fg = await this.fg;
    const { batchSize: n, tileSize: T, slices: k, outputSlices: m } = this.opts;
    const rng = this.batchRng(i);
    // The 3D rotation draws from its own stream: enabling it shifts no other draw.
    const rotRng = this.opts.rotation3dP > 0 ? Rng.of(mix32(this.opts.seed, 0x726f7433), i) : undefined;
    const plans = Array.from({ length: n }, () => this.plan(rng, fg, rotRng));
    const x = new Float32Array(n * T * T * k);
    const y = new Float32Array(n * T * T * m);
    await Promise.all(
      plans.map((p, t) => this.renderTile(p, x.subarray(t * T * T * k, (t + 1) * T * T * k), y.subarray(t * T * T * m, (t + 1) * T * T * m))),
    );
    return { x, y, shape: [n, T, T, k], labelChannels: m, tiles: plans.map((p) => p.info) };
  }

  /** Draws one tile's plan. Always the same number of draws, so a change of p shifts nothing else. */
  private plan(rng: Rng, fg: ForegroundIndex[], rotRng?: Rng): { volume: number; info: TileInfo } {
    const o = this.opts;
    const total = this.cumWeights[this.cumWeights.length - 1];
    const wv = rng.float() * total;
    let volume = this.cumWeights.findIndex((c) => wv < c);
    if (volume < 0) volume = this.volumes.length - 1;
    const v = this.volumes[volume];
    const plane = o.axes[rng.int(o.axes.length)];
    const axis = SLICE_AXIS[plane];
    const [, rows, cols] = windowShape(v.shape, axis, 1);
    const len = axisLength(v.shape, axis);
    const wantFg = rng.float() < o.foregroundShare;
    const uniform = [rng.int(len), rng.int(rows), rng.int(cols)] as [number, number, number];
    const cellPick = rng.float();
    const jr = rng.float();
    const jc = rng.float();
    const idx = fg[volume];
    const foreground = wantFg && idx.counts.length > 0;
    let centre = uniform;
    if (foreground) {
      const c = Math.floor(cellPick * idx.counts.length);
      const [z, yy, xx] = idx.voxels.slice(c * 3, c * 3 + 3);
      const [s, r, cc] = axis === 'z' ? [z, yy, xx] : axis === 'y' ? [yy, z, xx] : [xx, z, yy];
      // Jitter in-plane up to a quarter tile so vessels are not always at the tile centre.
      const j = Math.floor(o.tileSize / 4);
      centre = [s, clamp(r + Math.round((2 * jr - 1) * j), 0, rows - 1), clamp(cc + Math.round((2 * jc - 1) * j), 0, cols - 1)];
    }
    const p = o.augmentationP;
    // Always one draw per transform, whether enabled or not, so enabling one shifts nothing else.
    const fires = (name: AugmentationName) => rng.float() < p && o.transforms.includes(name);
    const flipRows = fires('flipRows');
    const flipCols = fires('flipCols');
    const rotFires = fires('rot90');
    const rotK = 1 + rng.int(3);
    const reverseSlices = fires('reverseSlices');
    const scaleFires = fires('scale');
    const [s0, s1] = o.scaleRange;
    const scaleDraw = Math.exp(rng.range(Math.log(s0), Math.log(s1)));
    const bcFires = fires('brightnessContrast');
    const contrastDraw = rng.range(0.8, 1.2);
    const brightnessDraw = rng.range(-0.1, 0.1);
    const gammaFires = fires('gamma');
    const gammaDraw = Math.exp(rng.range(Math.log(0.7), Math.log(1.5)));
    const noiseFires = fires('noise');
    const sigmaDraw = rng.range(0.01, 0.05);
    const noiseSeed = rng.uint32() | 0;
    let rotation3d: TileInfo['rotation3d'];
    if (rotRng) {
      const rotFires3d = rotRng.float() < o.rotation3dP;
      // A uniformly random axis on the sphere.
      const cz = 2 * rotRng.float() - 1;
      const phi = 2 * Math.PI * rotRng.float();
      const degrees = rotRng.range(-o.rotation3dMaxDegrees, o.rotation3dMaxDegrees);
      const sxy = Math.sqrt(1 - cz * cz);
      if (rotFires3d) rotation3d = { axis: [cz, sxy * Math.cos(phi), sxy * Math.sin(phi)], degrees };
    }
    return {
      volume,
      info: {
        volumeId: v.id,
        axis: plane,
        centre,
        foreground,
        flipRows,
        flipCols,
        rot90: rotFires ? rotK : 0,
        reverseSlices,
        scale: scaleFires ? scaleDraw : 1,
        contrast: bcFires ? contrastDraw : 1,
        brightness: bcFires ? brightnessDraw : 0,
        gamma: gammaFires ? gammaDraw : 1,
        noiseSigma: noiseFires ? sigmaDraw : 0,
        noiseSeed,
        ...(rotation3d ? { rotation3d } : {}),
      },
    };
  }

  /** Reads the region a tile needs, normalises it and resamples it through the tile's transform. */
  private async renderTile(plan: { volume: number; info: TileInfo }, xOut: Float32Array, yOut: Float32Array): Promise<void> {
    if (plan.info.rotation3d) return this.renderRotatedTile(plan, xOut, yOut);
    const v = this.volumes[plan.volume];
    const t = plan.info;
    const T = this.opts.tileSize;
    const k = this.opts.slices;
    const h = (k - 1) / 2;
    const m = this.opts.outputSlices;
    const ho = (m - 1) / 2;
    const axis = SLICE_AXIS[t.axis];
    const len = axisLength(v.shape, axis);
    const [, rows, cols] = windowShape(v.shape, axis, 1);
    const [s, r, c] = t.centre;
    // Continuous centre of the tile in source pixel coordinates; with scale 1 every output pixel
    // lands exactly on a source pixel (no interpolation, bit-exact values).
    const cy = r - Math.floor(T / 2) + (T - 1) / 2;
    const cx = c - Math.floor(T / 2) + (T - 1) / 2;
    const half = ((T - 1) / 2) * t.scale;
    const rA = Math.max(0, Math.floor(cy - half));
    const rB = Math.min(rows - 1, Math.ceil(cy + half) + 1);
    const cA = Math.max(0, Math.floor(cx - half));
    const cB = Math.min(cols - 1, Math.ceil(cx + half) + 1);
    const sA = Math.max(0, s - h);
    const sB = Math.min(len - 1, s + h);
    const lA = Math.max(0, s - ho);
    const lB = Math.min(len - 1, s + ho);
    xOut.fill(0);
    yOut.fill(0);
    if (rA > rB || cA > cB) return; // the tile lies wholly outside the volume: all padding

    const nr = rB - rA + 1;
    const nc = cB - cA + 1;
    const ns = sB - sA + 1;
    const nl = lB - lA + 1;
    const [img, lab] = await Promise.all([
      readBox(v, 'image', toBox(axis, sA, sB + 1, rA, rB + 1, cA, cB + 1)),
      readBox(v, 'label', toBox(axis, lA, lB + 1, rA, rB + 1, cA, cB + 1)),
    ]);
    const norm = normalizeSlice(img, v.stats);
    const st = strides(axis, ns, nr, nc);
    const lst = strides(axis, nl, nr, nc);
    const noise = t.noiseSigma > 0 ? Rng.of(t.noiseSeed, 0x6e6f) : undefined;
    const exact = t.scale === 1;

    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        let a = i - (T - 1) / 2;
        let b = j - (T - 1) / 2;
        if (t.flipRows) a = -a;
        if (t.flipCols) b = -b;
        for (let q = 0; q < t.rot90; q++) [a, b] = [b, -a];
        const sr = cy + a * t.scale - rA;
        const sc = cx + b * t.scale - cA;
        const nri = Math.round(sr);
        const nci = Math.round(sc);
        const inside = nri >= 0 && nri < nr && nci >= 0 && nci < nc;
        const o = i * T + j;
        if (!inside) continue; // padding stays exactly 0, untouched by intensity transforms
        for (let ch = 0; ch < m; ch++) {
          // Label slices reverse with the image slices: they are the same planes.
          const sl = s - ho + (t.reverseSlices ? m - 1 - ch : ch) - lA;
          if (sl >= 0 && sl < nl && lab[sl * lst.s + nri * lst.r + nci * lst.c] !== 0) yOut[o * m + ch] = 1;
        }
        for (let ch = 0; ch < k; ch++) {
          const sl = s - h + (t.reverseSlices ? k - 1 - ch : ch) - sA;
          if (sl < 0 || sl >= ns) continue;
          const val = exact ? norm[sl * st.s + nri * st.r + nci * st.c] : bilinear(norm, sl * st.s, st.r, st.c, nr, nc, sr, sc);
          xOut[o * k + ch] = intensity(val, t, noise);
        }
      }
    }
  }

  /**
   * A tile cut from the plane rotated in 3D about the tile centre: each output pixel and channel is
   * a point of the rotated slab, in the (slice, row, column) frame of the tile's plane. The image is
   * sampled trilinearly and the labels at the nearest voxel, from one box that bounds the slab.
   */
  private async renderRotatedTile(plan: { volume: number; info: TileInfo }, xOut: Float32Array, yOut: Float32Array): Promise<void> {
    const v = this.volumes[plan.volume];
    const t = plan.info;
    const { tileSize: T, slices: k, outputSlices: m } = this.opts;
    const h = (k - 1) / 2;
    const ho = (m - 1) / 2;
    const axis = SLICE_AXIS[t.axis];
    const len = axisLength(v.shape, axis);
    const [, rows, cols] = windowShape(v.shape, axis, 1);
    const [s, r, c] = t.centre;
    const centre: [number, number, number] = [s, r - Math.floor(T / 2) + (T - 1) / 2, c - Math.floor(T / 2) + (T - 1) / 2];
    const R = rotationMatrix(t.rotation3d!.axis, t.rotation3d!.degrees);
    const half = ((T - 1) / 2) * t.scale;
    const depth = Math.max(h, ho);
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    for (const d of [-depth, depth]) for (const a of [-half, half]) for (const b of [-half, half]) {
      const p = apply(R, [d, a, b]);
      for (let q = 0; q < 3; q++) {
        lo[q] = Math.min(lo[q], centre[q] + p[q]);
        hi[q] = Math.max(hi[q], centre[q] + p[q]);
      }
    }
    const ext = [len, rows, cols];
    const A = lo.map((x, q) => Math.max(0, Math.floor(x)));
    const B = hi.map((x, q) => Math.min(ext[q] - 1, Math.ceil(x) + 1));
    xOut.fill(0);
    yOut.fill(0);
    if (A.some((a, q) => a > B[q])) return; // wholly outside the volume: all padding
    const [ns, nr, nc] = [B[0] - A[0] + 1, B[1] - A[1] + 1, B[2] - A[2] + 1];
    const box = toBox(axis, A[0], B[0] + 1, A[1], B[1] + 1, A[2], B[2] + 1);
    const [img, lab] = await Promise.all([readBox(v, 'image', box), readBox(v, 'label', box)]);
    const norm = normalizeSlice(img, v.stats);
    const layout = { ...strides(axis, ns, nr, nc), ns, nr, nc };
    const noise = t.noiseSigma > 0 ? Rng.of(t.noiseSeed, 0x6e6f) : undefined;
    const at = (d: number, a: number, b: number) => {
      const p = apply(R, [d, a * t.scale, b * t.scale]);
      return [centre[0] + p[0] - A[0], centre[1] + p[1] - A[1], centre[2] + p[2] - A[2]] as const;
    };
    const nearest = (p: readonly [number, number, number]) => {
      const [ps, pr, pc] = p.map(Math.round);
      return ps >= 0 && ps < ns && pr >= 0 && pr < nr && pc >= 0 && pc < nc ? ps * layout.s + pr * layout.r + pc * layout.c : -1;
    };
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        let a = i - (T - 1) / 2;
        let b = j - (T - 1) / 2;
        if (t.flipRows) a = -a;
        if (t.flipCols) b = -b;
        for (let q = 0; q < t.rot90; q++) [a, b] = [b, -a];
        const o = i * T + j;
        for (let ch = 0; ch < m; ch++) {
          const n = nearest(at((t.reverseSlices ? m - 1 - ch : ch) - ho, a, b));
          if (n >= 0 && lab[n] !== 0) yOut[o * m + ch] = 1;
        }
        for (let ch = 0; ch < k; ch++) {
          const p = at((t.reverseSlices ? k - 1 - ch : ch) - h, a, b);
          if (nearest(p) < 0) continue; // padding stays exactly 0
          xOut[o * k + ch] = intensity(trilinear(norm, layout, p[0], p[1], p[2]), t, noise);
        }
      }
    }
  }
}

/** The [z, y, x] box of slices [s0, s1) along `axis`, rows [r0, r1) and columns [c0, c1) of its plane. */
function toBox(axis: Axis, s0: number, s1: number, r0: number, r1: number, c0: number, c1: number): Box {
  if (axis === 'z') return { z0: s0, z1: s1, y0: r0, y1: r1, x0: c0, x1: c1 };
  if (axis === 'y') return { z0: r0, z1: r1, y0: s0, y1: s1, x0: c0, x1: c1 };
  return { z0: r0, z1: r1, y0: c0, y1: c1, x0: s0, x1: s1 };
}

/** Strides of (slice, row, column) inside a C-order box read by {@link toBox}. */
function strides(axis: Axis, ns: number, nr: number, nc: number): { s: number; r: number; c: number } {
  if (axis === 'z') return { s: nr * nc, r: nc, c: 1 }; // box [ns, nr, nc]
  if (axis === 'y') return { s: nc, r: ns * nc, c: 1 }; // box [nr, ns, nc]
  return { s: 1, r: nc * ns, c: ns }; // box [nr, nc, ns]
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** A fingerprint with some options left out (it is the JSON of the options). */
function without(fingerprint: string | undefined, keys: readonly string[]): string | undefined {
  if (keys.length === 0 || fingerprint === undefined) return fingerprint;
  try {
    const o = JSON.parse(fingerprint) as Record<string, unknown>;
    for (const k of keys) delete o[k];
    return JSON.stringify(o);
  } catch {
    return fingerprint;
  }
}
