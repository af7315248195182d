import { computeStats, MemoryVolume } from '../store/memory.ts';
import { Rng } from '../rng.ts';
import { addValueNoise, VALUE_NOISE_STD } from './texture.ts';
import { growVesselTree, kidneyShape, type VesselSegment } from './vessel-tree.ts';
import type { Box } from '../types.ts';

/**
 * Grey levels of a synthetic HiP-CT kidney (16-bit). The medium values are fitted to the real
 * kidney_5 slices in ../shared/data/hipct-kidney5 (which show only the embedding medium); tissue and
 * lumen levels are assumptions, documented in docs/volumes.md.
 */
export interface SyntheticAppearance {
  /** Mean of the embedding medium (real: 21411). */
  mediumMean: number;
  /** Std of the medium's smooth texture, without pixel noise (real total 558, noise 184 -> 527). */
  mediumTextureStd: number;
  /** Std of the white pixel noise (real: 184, from neighbouring-pixel differences). */
  noiseStd: number;
  /** Tissue mean minus medium mean. */
  tissueOffset: number;
  tissueTextureStd: number;
  /** Grey level of a vessel lumen (holds medium, so close to the medium mean). */
  lumenLevel: number;
}

export const HIPCT_APPEARANCE: Readonly<SyntheticAppearance> = {
  mediumMean: 21411,
  mediumTextureStd: 527,
  noiseStd: 184,
  tissueOffset: 1200,
  tissueTextureStd: 300,
  lumenLevel: 21300,
};

export interface SyntheticOptions {
  /** [z, y, x] */
  shape: [number, number, number];
  seed: number;
  /** Target share of tissue voxels inside vessels (default 0.01). */
  vesselDensity?: number;
  /** Share of vessel branches that carry labels; < 1 imitates kidney_2's sparse labels (default 1). */
  labelledFraction?: number;
  /** Radius of the trunks, voxels (default min(shape)/16 clamped to [1, 5]: up to 10 voxels across). */
  maxRadius?: number;
  /** Branches thinner than this radius end (default 0.5: one voxel across). */
  minRadius?: number;
  appearance?: Partial<SyntheticAppearance>;
}

/** One z slice of a synthetic volume: image (uint16) and 0/1 labels (uint8), each Y x X. */
export interface SyntheticSlice {
  z: number;
  image: Uint16Array;
  label: Uint8Array;
}

/** Largest volume {@link generateSyntheticVolume} builds in memory; larger ones must stream. */
export const MAX_IN_MEMORY_VOXELS = 2 ** 27;

/**
 * Streams the z slices of a synthetic kidney, deterministically by seed, holding one slice and the
 * vessel tree (a list of capsules) at a time. Any slice's pixels depend only on (options, z).
 */
export function* syntheticSlices(options: SyntheticOptions): Generator<SyntheticSlice> {
  const [Z, Y, X] = options.shape;
  if (![Z, Y, X].every((n) => Number.isInteger(n) && n > 0)) throw new RangeError(`shape must be 3 positive integers, got ${options.shape}`);
  const look = { ...HIPCT_APPEARANCE, ...options.appearance };
  const segments = growVesselTree({
    shape: options.shape,
    seed: options.seed,
    vesselDensity: options.vesselDensity ?? 0.01,
    labelledFraction: options.labelledFraction ?? 1,
    maxRadius: options.maxRadius ?? Math.min(5, Math.max(1, Math.min(Z, Y, X) / 16)),
    minRadius: options.minRadius ?? 0.5,
  });
  const bounds = segments.map(segmentBounds).sort((a, b) => a.z0 - b.z0);
  const kidney = kidneyShape(options.shape);
  const meanRadius = Math.cbrt(kidney.radii[0] * kidney.radii[1] * kidney.radii[2]);
  const mediumAmp = look.mediumTextureStd / VALUE_NOISE_STD;
  const tissueAmp = look.tissueTextureStd / VALUE_NOISE_STD;
  const medium = new Float32Array(Y * X);
  const tissue = new Float32Array(Y * X);
  const vessel = new Float32Array(Y * X);
  let next = 0;
  let bits = 0;
  let active: Bounds[] = [];

  for (let z = 0; z < Z; z++) {
    while (next < bounds.length && bounds[next].z0 <= z) active.push(bounds[next++]);
    active = active.filter((b) => b.z1 >= z);
    const label = new Uint8Array(Y * X);
    vessel.fill(0);
    for (const b of active) rasterise(b, z, Y, X, vessel, label);

    // Medium: three octaves (96, 24, 8 px; weights fitted to the real slices' autocorrelation at
    // 8 and 32 px); tissue: two finer ones. Seed streams kept apart per octave.
    medium.fill(look.mediumMean);
    addValueNoise(medium, Y, X, z, 96, options.seed ^ 0x11, 0.8 * mediumAmp);
    addValueNoise(medium, Y, X, z, 24, options.seed ^ 0x22, 0.5 * mediumAmp);
    addValueNoise(medium, Y, X, z, 8, options.seed ^ 0x55, 0.33 * mediumAmp);
    tissue.fill(look.mediumMean + look.tissueOffset);
    addValueNoise(tissue, Y, X, z, 20, options.seed ^ 0x33, 0.6 * tissueAmp);
    addValueNoise(tissue, Y, X, z, 6, options.seed ^ 0x44, 0.8 * tissueAmp);

    const noise = Rng.of(options.seed, 0x10000 + z);
    const image = new Uint16Array(Y * X);
    const [kz, ky, kx] = kidney.centre;
    const [az, ay, ax] = kidney.radii;
    const [hz, hy, hx] = kidney.hilumCentre;
    const ez = ((z - kz) / az) ** 2;
    const hz2 = (z - hz) ** 2;
    const hr2 = kidney.hilumRadius ** 2;
    const eCut = meanRadius > 0.75 ? (1 - 0.75 / meanRadius) ** 2 : 0; // below it, t is 1
    for (let y = 0, i = 0; y < Y; y++) {
      const ezy = ez + ((y - ky) / ay) ** 2;
      const hzy = hz2 + (y - hy) ** 2;
      for (let x = 0; x < X; x++, i++) {
        // Tissue share of the voxel: a soft edge over about 1.5 voxels (partial volume).
        const hd2 = hzy + (x - hx) ** 2;
        let e = ezy + ((x - kx) / ax) ** 2;
        if (hd2 < hr2) e = Math.max(e, 2 - Math.sqrt(hd2 / hr2)); // inside the hilum notch (see kidneyLevel)
        let t = 1;
        if (e > eCut) {
          const dist = (1 - Math.sqrt(e)) * meanRadius;
          t = dist > 0.75 ? 1 : dist < -0.75 ? 0 : dist / 1.5 + 0.5;
        }
        const w = vessel[i];
        const inside = tissue[i] * (1 - w) + look.lumenLevel * w;
        // Two 16-bit normal deviates per 32-bit draw, from a quantile table (fast; exact enough for noise).
        if ((x & 1) === 0) bits = noise.uint32();
        const g = NORMAL_TABLE[(x & 1) === 0 ? bits & 0xffff : bits >>> 16];
        const v = medium[i] * (1 - t) + inside * t + look.noiseStd * g;
        image[i] = v < 0 ? 0 : v > 65535 ? 65535 : Math.round(v);
      }
    }
    yield { z, image, label };
  }
}

/**
 * A small synthetic kidney held in memory (tests, demos). Larger volumes: stream
 * {@link syntheticSlices} into a store instead.
 */
export function generateSyntheticVolume(options: SyntheticOptions & { id?: string }): MemoryVolume {
  const [Z, Y, X] = options.shape;
  if (Z * Y * X > MAX_IN_MEMORY_VOXELS) {
    throw new RangeError(`synthetic volume ${options.shape.join('x')} is too large to hold in memory; stream syntheticSlices() instead`);
  }
  const image = new Uint16Array(Z * Y * X);
  const label = new Uint8Array(Z * Y * X);
  for (const s of syntheticSlices(options)) {
    image.set(s.image, s.z * Y * X);
    label.set(s.label, s.z * Y * X);
  }
  return new MemoryVolume(options.id ?? `synthetic-${options.seed}`, [Z, Y, X], image, label, computeStats(image, label));
}

/** Standard normal quantiles at (i + 0.5) / 65536: maps 16 random bits to a normal deviate. */
const NORMAL_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = normalQuantile((i + 0.5) / t.length);
  return t;
})();

/** Inverse normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo || p > 1 - lo) {
    const q = Math.sqrt(-2 * Math.log(p < lo ? p : 1 - p));
    const v = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    return p < lo ? v : -v;
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

interface Bounds extends Box {
  s: VesselSegment;
}

function segmentBounds(s: VesselSegment): Bounds {
  const r = Math.max(s.r0, s.r1) + 1.5;
  const lo = (i: number) => Math.floor(Math.min(s.p0[i], s.p1[i]) - r);
  const hi = (i: number) => Math.ceil(Math.max(s.p0[i], s.p1[i]) + r);
  return { s, z0: lo(0), z1: hi(0), y0: lo(1), y1: hi(1), x0: lo(2), x1: hi(2) };
}

/**
 * Draws one capsule's cross-section with slice z: image weight = partial-volume coverage
 * (radius + 0.5 - distance, clamped), label = centre within the radius (at least 0.71 so a
 * one-voxel vessel stays connected when it runs diagonally), only for labelled branches.
 */
function rasterise(b: Bounds, z: number, Y: number, X: number, vessel: Float32Array, label: Uint8Array): void {
  const { p0, p1, r0, r1, labelled } = b.s;
  const vz = p1[0] - p0[0];
  const vy = p1[1] - p0[1];
  const vx = p1[2] - p0[2];
  const vv = vz * vz + vy * vy + vx * vx || 1;
  const ya = Math.max(0, b.y0);
  const yb = Math.min(Y - 1, b.y1);
  const xa = Math.max(0, b.x0);
  const xb = Math.min(X - 1, b.x1);
  const qz = z - p0[0];
  for (let y = ya; y <= yb; y++) {
    const qy = y - p0[1];
    for (let x = xa; x <= xb; x++) {
      const qx = x - p0[2];
      let t = (qz * vz + qy * vy + qx * vx) / vv;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const dz = qz - t * vz;
      const dy = qy - t * vy;
      const dx = qx - t * vx;
      const d = Math.sqrt(dz * dz + dy * dy + dx * dx);
      const rho = r0 + (r1 - r0) * t;
      const w = rho + 0.5 - d;
      if (w <= 0) continue;
      const i = y * X + x;
      const c = w > 1 ? 1 : w;
      if (c > vessel[i]) vessel[i] = c;
      if (labelled && d <= Math.max(rho, 0.71)) label[i] = 1;
    }
  }
}
