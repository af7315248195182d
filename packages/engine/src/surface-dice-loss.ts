/**
 * A differentiable surface Dice (tolerance 0) on the metric's own 2x2x2 neighbour-code area table.
 *
 * Each voxel's probability is treated as an independent Bernoulli draw, so a cube's code has
 * probability prod_i (p_i or 1 - p_i) and its expected area is sum_c P(c) A(c). The truth is binary,
 * so its area A_t per cube is exact. The metric scores sum over cubes of [A_t > 0][A_p > 0](A_t + A_p)
 * over sum A_t + sum A_p; its expectation per cube is [A_t > 0](A_t P(A_p > 0) + E[A_p]) (A_p > 0
 * exactly when the code is neither 0 nor 255). The loss is one minus the ratio of the summed
 * expectations, which on 0/1 inputs is exactly the metric.
 *
 * The 256 codes factor into the 16 codes of each cube's two z faces, so a cube costs two [16]
 * outer products and a 16x16 table, not 256 products.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SURFACE_AREA_TABLE } from '@capillary/metric/surface-area-table';

export interface SoftSurfaceDiceOptions {
  /**
   * Zero padding on every side, as the metric does for a whole volume. Off for training tiles: a
   * tile's edge is not the volume's, and padding would score a surface where vessels leave it.
   */
  pad?: boolean;
  /** Added to matched and total area (batch-level smoothing, as for soft Dice). */
  smooth?: number;
}

const AREAS = Float32Array.from(SURFACE_AREA_TABLE);
/** The area table as [upper face code 0..15, lower face code 0..15] (a new tensor: callers tidy it). */
function areas(): tf.Tensor2D {
  return tf.tensor2d(AREAS, [16, 16]);
}

/**
 * Probabilities [M, 16] of the 16 codes of one cube face from its four corners (bit 3 first, as the
 * metric's half code: (y-1, x-1), (y-1, x), (y, x-1), (y, x)).
 */
function faceCodes(corners: tf.Tensor1D[]): tf.Tensor2D {
  let t: tf.Tensor2D = tf.ones([corners[0].shape[0], 1]);
  for (const q of corners) {
    const c = tf.expandDims(q, 1);
    // New bit is the least significant one: index 2j + v.
    t = tf.reshape(tf.stack([tf.mul(t, tf.sub(1, c)), tf.mul(t, c)], 2), [t.shape[0], t.shape[1] * 2]) as tf.Tensor2D;
  }
  return t;
}

/** Expected area and probability of lying on a surface, per cube, for a [N, H, W, D] probability map. */
function cubeAreas(p: tf.Tensor4D): { area: tf.Tensor1D; onSurface: tf.Tensor1D } {
  const [n, h, w, d] = p.shape;
  const corner = (dz: number, dy: number, dx: number) =>
    tf.reshape(tf.slice(p, [0, dy, dx, dz], [n, h - 1, w - 1, d - 1]), [-1]) as tf.Tensor1D;
  const upper = faceCodes([corner(0, 0, 0), corner(0, 0, 1), corner(0, 1, 0), corner(0, 1, 1)]);
  const lower = faceCodes([corner(1, 0, 0), corner(1, 0, 1), corner(1, 1, 0), corner(1, 1, 1)]);
  const area = tf.sum(tf.mul(tf.matMul(upper, areas()), lower), 1) as tf.Tensor1D;
  const empty = tf.mul(tf.slice(upper, [0, 0], [-1, 1]), tf.slice(lower, [0, 0], [-1, 1]));
  const full = tf.mul(tf.slice(upper, [0, 15], [-1, 1]), tf.slice(lower, [0, 15], [-1, 1]));
  const onSurface = tf.reshape(tf.sub(1, tf.add(empty, full)), [-1]) as tf.Tensor1D;
  return { area, onSurface };
}

/** The volume the cubes are cut from: channels are z; padded, or one slice doubled to make a layer. */
function asVolume(v: tf.Tensor4D, pad: boolean): tf.Tensor4D {
  if (pad) return tf.pad(v, [[0, 0], [1, 1], [1, 1], [1, 1]]);
  // One slice: cubes between the slice and itself score its in-plane contour (an extruded 2D surface).
  return v.shape[3] === 1 ? (tf.concat([v, v], 3) as tf.Tensor4D) : v;
}

/**
 * Soft surface Dice of probabilities `p` against 0/1 truth `y`, both [N, H, W, D] with the channels
 * as the third (z) axis of each sample. Scalar in [0, 1].
 */
export function softSurfaceDice(p: tf.Tensor4D, y: tf.Tensor4D, o: SoftSurfaceDiceOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    const pad = o.pad ?? false;
    const smooth = o.smooth ?? 1;
    const pred = cubeAreas(asVolume(p, pad));
    const truth = cubeAreas(asVolume(y, pad));
    const at = truth.area;
    const onTruth = tf.cast(tf.greater(at, 0), 'float32');
    const matched = tf.sum(tf.mul(onTruth, tf.add(tf.mul(at, pred.onSurface), pred.area)));
    const total = tf.add(tf.sum(at), tf.sum(pred.area));
    return tf.div(tf.add(matched, smooth), tf.add(total, smooth)) as tf.Scalar;
  });
}
