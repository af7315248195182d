/**
 * A differentiable surface Dice (tolerance 0) on the metric's own 2x2x2 neighbour-code area table.
 *
 * Each voxel's probability is treated as an independent Bernoulli draw, so a cube's code has
 * probability prod_i (p_i or 1 - p_i) and its expected area is sum_c P(c) A(c). The truth is binary,
 * so its area A_t per cube is exact. The metric scores sum over cubes of [A_t > 0][A_p > 0](A_t + A_p)
 * over sum A_t + sum A_p; its expectation per cube is [A_t > 0](A_t P(A_p > 0) + E[A_p]) (A_p > 0
 * exactly when the code is neither 0 nor 255). The score is the ratio of the summed expectations,
 * which on 0/1 inputs is exactly the metric.
 *
 * The 256 codes factor into the 16 codes of each cube's two z faces: E[A_p] = U^T A L with U, L the
 * face-code distributions and A the table as 16 x 16. Value and gradient are computed per cube in
 * plain loops (one custom-gradient op): as tfjs ops the outer products cost more than a U-Net step.
 * The expectation is multilinear in each corner, so its derivative is exact and cheap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SURFACE_AREA_TABLE } from '@capillary/metric';

export interface SoftSurfaceDiceOptions {
  /**
   * Zero padding on every side, as the metric does for a whole volume. Off for training tiles: a
   * tile's edge is not the volume's, and padding would score a surface where vessels leave it.
   */
  pad?: boolean;
  /** Added to matched and total area (batch-level smoothing, as for soft Dice). */
  smooth?: number;
}

/** The table as [upper face code][lower face code]. */
const AREA = Float64Array.from(SURFACE_AREA_TABLE);

/**
 * The cube grid over a [N, H, W, D] map (channels are z): padded by one zero voxel on every side,
 * or, for one slice unpadded, the slice paired with itself (cubes then score its in-plane contour).
 * `index` maps an extended voxel to the map's flat index, -1 for padding.
 */
function grid(shape: number[], pad: boolean) {
  const [n, h, w, d] = shape;
  const off = pad ? 1 : 0;
  const he = h + 2 * off;
  const we = w + 2 * off;
  const de = pad ? d + 2 : d === 1 ? 2 : d;
  const index = (b: number, r: number, c: number, z: number) => {
    const rr = r - off;
    const cc = c - off;
    const zz = pad ? z - 1 : d === 1 ? 0 : z;
    if (rr < 0 || rr >= h || cc < 0 || cc >= w || zz < 0 || zz >= d) return -1;
    return ((b * h + rr) * w + cc) * d + zz;
  };
  return { n, he, we, de, index };
}

/** Corner offsets (dz, dy, dx) in code-bit order: upper face bits 3..0, then the lower face's. */
const CORNERS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1],
  [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1],
];

/** Code distribution of one face from its four corner probabilities (corner 0 is bit 3). */
function faceCodes(q: Float64Array, at: number, out: Float64Array): void {
  for (let h = 0; h < 16; h++) {
    let v = 1;
    for (let j = 0; j < 4; j++) v *= (h >> (3 - j)) & 1 ? q[at + j] : 1 - q[at + j];
    out[h] = v;
  }
}

/** d(sum_h face[h] weight[h]) / d q_j for the face's four corners, into `out[at..at+3]`. */
function faceGradient(q: Float64Array, at: number, weight: Float64Array, out: Float64Array): void {
  for (let j = 0; j < 4; j++) {
    let g = 0;
    for (let h = 0; h < 16; h++) {
      let v = (h >> (3 - j)) & 1 ? 1 : -1;
      for (let k = 0; k < 4; k++) if (k !== j) v *= (h >> (3 - k)) & 1 ? q[at + k] : 1 - q[at + k];
      g += v * weight[h];
    }
    out[at + j] = g;
  }
}

interface CubeSums {
  matched: number;
  total: number;
}

/**
 * Visits every cube: sums matched and total expected area, and (when `grad` is given) adds
 * `w1 * d matched / d p - w2 * d total / d p` for every corner into it.
 */
function visit(p: Float32Array, y: Float32Array, shape: number[], pad: boolean, grad?: { out: Float32Array; w1: number; w2: number }): CubeSums {
  const g = grid(shape, pad);
  const q = new Float64Array(8);
  const idx = new Int32Array(8);
  const U = new Float64Array(16);
  const L = new Float64Array(16);
  const AL = new Float64Array(16);
  const AtU = new Float64Array(16);
  const dE = new Float64Array(8);
  let matched = 0;
  let total = 0;
  for (let b = 0; b < g.n; b++)
    for (let r = 0; r + 1 < g.he; r++)
      for (let c = 0; c + 1 < g.we; c++)
        for (let z = 0; z + 1 < g.de; z++) {
          let code = 0;
          for (let i = 0; i < 8; i++) {
            const [dz, dy, dx] = CORNERS[i];
            const k = g.index(b, r + dy, c + dx, z + dz);
            idx[i] = k;
            q[i] = k < 0 ? 0 : p[k];
            if (k >= 0 && y[k] > 0.5) code |= 1 << (7 - i);
          }
          const at = AREA[code];
          faceCodes(q, 0, U);
          faceCodes(q, 4, L);
          let ea = 0;
          for (let h = 0; h < 16; h++) {
            let s = 0;
            for (let l = 0; l < 16; l++) s += AREA[h * 16 + l] * L[l];
            AL[h] = s;
            ea += U[h] * s;
          }
          const onTruth = at > 0 ? 1 : 0;
          const empty = U[0] * L[0];
          const full = U[15] * L[15];
          matched += onTruth * (at * (1 - empty - full) + ea);
          total += at + ea;
          if (!grad) continue;
          for (let l = 0; l < 16; l++) {
            let s = 0;
            for (let h = 0; h < 16; h++) s += U[h] * AREA[h * 16 + l];
            AtU[l] = s;
          }
          faceGradient(q, 0, AL, dE);
          faceGradient(q, 4, AtU, dE);
          // P(on a surface) = 1 - prod q - prod (1 - q): its derivative leaves out one factor.
          for (let i = 0; i < 8; i++) {
            const k = idx[i];
            if (k < 0) continue;
            let allIn = 1;
            let allOut = 1;
            for (let j = 0; j < 8; j++) {
              if (j === i) continue;
              allIn *= q[j];
              allOut *= 1 - q[j];
            }
            const dSurface = allOut - allIn;
            grad.out[k] += grad.w1 * onTruth * (at * dSurface + dE[i]) - grad.w2 * dE[i];
          }
        }
  return { matched, total };
}

/**
 * Soft surface Dice of probabilities `p` against 0/1 truth `y`, both [N, H, W, D] with the channels
 * as the third (z) axis of each sample. Scalar in [0, 1]; differentiable in `p`.
 */
export function softSurfaceDice(p: tf.Tensor4D, y: tf.Tensor4D, o: SoftSurfaceDiceOptions = {}): tf.Scalar {
  const pad = o.pad ?? false;
  const smooth = o.smooth ?? 1;
  const op = tf.customGrad(((pt: tf.Tensor, yt: tf.Tensor, save: tf.GradSaveFunc) => {
    const pv = pt.dataSync() as Float32Array;
    const yv = yt.dataSync() as Float32Array;
    const { matched, total } = visit(pv, yv, pt.shape, pad);
    save([pt, yt]);
    return {
      value: tf.scalar((matched + smooth) / (total + smooth)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const up = dy.dataSync()[0];
        const out = new Float32Array(pv.length);
        const t = total + smooth;
        visit(saved[0].dataSync() as Float32Array, saved[1].dataSync() as Float32Array, pt.shape, pad, { out, w1: up / t, w2: (up * (matched + smooth)) / (t * t) });
        return [tf.tensor(out, pt.shape), tf.zerosLike(yt)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(p, y) as tf.Scalar;
}
