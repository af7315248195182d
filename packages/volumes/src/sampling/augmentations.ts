// The sampler's augmentations: which there are, the intensity transforms of a tile, bilinear
// resampling of a slice (scale), and the geometry of the 3D plane rotation (rotation matrices and
// trilinear sampling of a box). The sampler decides, from its seeded streams, which fire.
import type { Rng } from '../rng.ts';

/** The augmentation transforms; each fires on a tile with probability `augmentationP`. */
export const AUGMENTATIONS = ['flipRows', 'flipCols', 'rot90', 'reverseSlices', 'scale', 'brightnessContrast', 'gamma', 'noise'] as const;
export type AugmentationName = (typeof AUGMENTATIONS)[number];

/** The intensity transforms drawn for a tile. */
export interface IntensityTransform {
  contrast: number;
  brightness: number;
  gamma: number;
  noiseSigma: number;
}

/** The intensity transforms of a tile, applied to one normalised value. */
export function intensity(value: number, t: IntensityTransform, noise: Rng | undefined): number {
  let val = value;
  if (t.contrast !== 1 || t.brightness !== 0) val = clamp((val - 0.5) * t.contrast + 0.5 + t.brightness, 0, 1);
  if (t.gamma !== 1) val = Math.pow(val, t.gamma);
  if (noise) val += t.noiseSigma * noise.normal();
  return val;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Bilinear sample of one slice of a box; neighbours outside the box count as zero padding. */
export function bilinear(a: Float32Array, base: number, sr: number, sc: number, nr: number, nc: number, r: number, c: number): number {
  const r0 = Math.floor(r);
  const c0 = Math.floor(c);
  const fr = r - r0;
  const fc = c - c0;
  const at = (rr: number, cc: number) => (rr >= 0 && rr < nr && cc >= 0 && cc < nc ? a[base + rr * sr + cc * sc] : 0);
  return (at(r0, c0) * (1 - fc) + at(r0, c0 + 1) * fc) * (1 - fr) + (at(r0 + 1, c0) * (1 - fc) + at(r0 + 1, c0 + 1) * fc) * fr;
}

export type Mat3 = [number, number, number, number, number, number, number, number, number];

/** Rotation by `degrees` about the unit `axis` (Rodrigues), row-major. */
export function rotationMatrix(axis: readonly [number, number, number], degrees: number): Mat3 {
  const [x, y, z] = axis;
  const t = (degrees * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const C = 1 - c;
  return [
    c + x * x * C, x * y * C - z * s, x * z * C + y * s,
    y * x * C + z * s, c + y * y * C, y * z * C - x * s,
    z * x * C - y * s, z * y * C + x * s, c + z * z * C,
  ];
}

export function apply(m: Mat3, v: readonly [number, number, number]): [number, number, number] {
  return [m[0] * v[0] + m[1] * v[1] + m[2] * v[2], m[3] * v[0] + m[4] * v[1] + m[5] * v[2], m[6] * v[0] + m[7] * v[1] + m[8] * v[2]];
}

/** Strides (slice, row, column) of a box, and its extent. */
export interface BoxLayout {
  s: number;
  r: number;
  c: number;
  ns: number;
  nr: number;
  nc: number;
}

/** Trilinear sample at box coordinates (slice, row, column); neighbours outside the box count as 0. */
export function trilinear(a: Float32Array, l: BoxLayout, ps: number, pr: number, pc: number): number {
  const s0 = Math.floor(ps);
  const r0 = Math.floor(pr);
  const c0 = Math.floor(pc);
  const fs = ps - s0;
  const fr = pr - r0;
  const fc = pc - c0;
  let v = 0;
  for (let ds = 0; ds < 2; ds++) {
    const ss = s0 + ds;
    if (ss < 0 || ss >= l.ns) continue;
    const ws = ds ? fs : 1 - fs;
    for (let dr = 0; dr < 2; dr++) {
      const rr = r0 + dr;
      if (rr < 0 || rr >= l.nr) continue;
      const wr = dr ? fr : 1 - fr;
      for (let dc = 0; dc < 2; dc++) {
        const cc = c0 + dc;
        if (cc < 0 || cc >= l.nc) continue;
        v += ws * wr * (dc ? fc : 1 - fc) * a[ss * l.s + rr * l.r + cc * l.c];
      }
    }
  }
  return v;
}
