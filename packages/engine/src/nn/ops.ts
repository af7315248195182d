/**
 * Layer operations with hand-written gradients where the generic tfjs ones are slow on CPU
 * backends. Shared by every model.
 */
import * as tf from '@tensorflow/tfjs-core';

export const BN_EPSILON = 1e-5;
export const BN_MOMENTUM = 0.1;

const AXES = [0, 1, 2];

/**
 * Training-mode batch norm over N, H, W of an NHWC tensor. The gradient is the closed form
 * dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), computed with broadcasting only
 * (the generic tfjs gradient goes through tile and several full-size temporaries).
 * `onStats` receives the batch mean and (biased) variance, inside the op's scope.
 */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  onStats: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void,
): tf.Tensor4D {
  const op = tf.customGrad((xIn, g, b, save) => {
    const xi = xIn as tf.Tensor4D;
    const { mean, variance } = tf.moments(xi, AXES);
    onStats(mean as tf.Tensor1D, variance as tf.Tensor1D);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPSILON));
    const xhat = tf.mul(tf.sub(xi, mean), rstd);
    const y = tf.add(tf.mul(xhat, g as tf.Tensor), b as tf.Tensor);
    (save as tf.GradSaveFunc)([xhat, rstd, g as tf.Tensor]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs, gm] = saved;
        const dbeta = tf.sum(dy, AXES);
        const dgamma = tf.sum(tf.mul(dy, xh), AXES);
        const count = dy.size / dy.shape[3]!;
        const scale = tf.mul(gm, rs);
        const dx = tf.mul(tf.sub(tf.sub(dy, tf.div(dbeta, count)), tf.mul(xh, tf.div(dgamma, count))), scale);
        return [dx, dgamma, dbeta];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor4D;
}

/** Inference-mode batch norm with running statistics. */
export function batchNormInfer(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, mean: tf.Tensor1D, variance: tf.Tensor1D): tf.Tensor4D {
  return tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, BN_EPSILON)));
    const shift = tf.sub(beta, tf.mul(mean, scale));
    return tf.add(tf.mul(x, scale), shift);
  });
}

/**
 * Inverted dropout with a mask from tfjs's seeded uniform generator, so a given seed drops the
 * same units on every backend and after a resume.
 */
export function dropout(x: tf.Tensor4D, rate: number, seed: number): tf.Tensor4D {
  if (rate <= 0) return x;
  return tf.tidy(() => {
    const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
    return tf.mul(x, tf.div(keep, 1 - rate));
  });
}
