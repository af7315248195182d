/** Segmentation losses on logits (NHWC; channels are output slices) against 0/1 targets. */
import * as tf from '@tensorflow/tfjs-core';
import { softSurfaceDice } from './surface-dice-loss.ts';

export type LossName = 'bce-dice' | 'focal' | 'boundary' | 'surface-dice';
/** Weights of the loss terms; a missing term weighs 0. */
export interface LossWeights {
  bce?: number;
  focal?: number;
  boundary?: number;
  dice?: number;
  surfaceDice?: number;
}
export type LossSpec = LossName | LossWeights;

/** Terms in the order they are summed: the named losses keep the sums they always had. */
const TERMS = ['bce', 'focal', 'boundary', 'dice', 'surfaceDice'] as const;
type Term = (typeof TERMS)[number];

/** What each named loss weighs. */
export const NAMED_LOSSES: Readonly<Record<LossName, LossWeights>> = {
  'bce-dice': { bce: 1, dice: 1 },
  focal: { focal: 1, dice: 0.5 },
  boundary: { boundary: 1, dice: 1 },
  'surface-dice': { bce: 1, surfaceDice: 1 },
};

export function lossWeights(loss: LossSpec): LossWeights {
  return typeof loss === 'string' ? NAMED_LOSSES[loss] : loss;
}

/** Numerically stable per-pixel BCE with logits: max(z,0) - z*y + log(1 + exp(-|z|)). */
function bceWithLogits(z: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
}

/** 1 - soft Dice over the whole batch (one score per batch keeps empty tiles from dominating). */
function softDiceLoss(p: tf.Tensor, y: tf.Tensor, smooth = 1): tf.Tensor {
  const inter = tf.sum(tf.mul(p, y));
  const denom = tf.add(tf.sum(p), tf.sum(y));
  return tf.sub(1, tf.div(tf.add(tf.mul(inter, 2), smooth), tf.add(denom, smooth)));
}

/** Focal loss (Lin et al. 2017), gamma 2, alpha 0.25 on the positive class. */
function focal(z: tf.Tensor, y: tf.Tensor, p: tf.Tensor, gamma = 2, alpha = 0.25): tf.Tensor {
  const pt = tf.add(tf.mul(p, y), tf.mul(tf.sub(1, p), tf.sub(1, y)));
  const at = tf.add(tf.mul(y, alpha), tf.mul(tf.sub(1, y), 1 - alpha));
  return tf.mean(tf.mul(tf.mul(at, tf.pow(tf.sub(1, pt), gamma)), bceWithLogits(z, y)));
}

/**
 * Pixels on a label boundary (inside or outside), from a 3x3 dilation minus a 3x3 erosion. Thin
 * vessels are mostly boundary, which is what surface Dice scores.
 */
export function boundaryMap(y: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const dil = tf.maxPool(y, 3, 1, 'same');
    const ero = tf.neg(tf.maxPool(tf.neg(y), 3, 1, 'same'));
    return tf.sub(dil, ero);
  });
}

function term(name: Term, z: tf.Tensor4D, y: tf.Tensor4D, p: tf.Tensor4D): tf.Tensor {
  switch (name) {
    case 'bce':
      return tf.mean(bceWithLogits(z, y));
    case 'focal':
      return focal(z, y, p);
    case 'boundary': {
      // Boundary pixels weigh 5x in the BCE term (per output slice: maxPool is per channel).
      const w = tf.add(1, tf.mul(boundaryMap(y), 4));
      return tf.div(tf.sum(tf.mul(w, bceWithLogits(z, y))), tf.sum(w));
    }
    case 'dice':
      return softDiceLoss(p, y);
    case 'surfaceDice':
      return tf.sub(1, softSurfaceDice(p, y));
  }
}

/** Scalar training loss: the weighted sum of the terms (a weight of 1 is not multiplied: same bits as before). */
export function segmentationLoss(loss: LossSpec, logits: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar {
  const weights = lossWeights(loss);
  return tf.tidy(() => {
    const p = tf.sigmoid(logits);
    let sum: tf.Tensor | undefined;
    for (const name of TERMS) {
      const w = weights[name] ?? 0;
      if (!(w > 0)) continue;
      const t = w === 1 ? term(name, logits, y, p) : tf.mul(term(name, logits, y, p), w);
      sum = sum ? tf.add(sum, t) : t;
    }
    if (!sum) throw new RangeError('loss has no term with a positive weight');
    return sum as tf.Scalar;
  });
}
