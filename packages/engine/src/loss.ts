/** Segmentation losses on logits (NHWC, one channel) against 0/1 targets. */
import * as tf from '@tensorflow/tfjs-core';

export type LossName = 'bce-dice' | 'focal' | 'boundary';

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

/** Scalar training loss. */
export function segmentationLoss(name: LossName, logits: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.sigmoid(logits);
    if (name === 'focal') return tf.add(focal(logits, y, p), tf.mul(softDiceLoss(p, y), 0.5)) as tf.Scalar;
    if (name === 'boundary') {
      // Boundary pixels weigh 5x in the BCE term.
      const w = tf.add(1, tf.mul(boundaryMap(y), 4));
      const bce = tf.div(tf.sum(tf.mul(w, bceWithLogits(logits, y))), tf.sum(w));
      return tf.add(bce, softDiceLoss(p, y)) as tf.Scalar;
    }
    return tf.add(tf.mean(bceWithLogits(logits, y)), softDiceLoss(p, y)) as tf.Scalar;
  });
}
