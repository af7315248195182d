/** Batch normalisation with a hand-written gradient (the generic tfjs one tiles and transposes). */
import * as tf from '@tensorflow/tfjs-core';

export const BN_EPSILON = 1e-5;
export const BN_MOMENTUM = 0.1;

/**
 * Per-channel mean of an NHWC tensor over N, H and W. A full-window average pool reads the tensor
 * once, channel-vectorised; a reduction over leading axes transposes it first (3x slower on wasm).
 */
export function channelMean(x: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const pooled = h * w > 1 ? tf.avgPool(x, [h, w], 1, 'valid') : x;
    return tf.reshape(n > 1 ? tf.mean(pooled, 0) : pooled, [c]) as tf.Tensor1D;
  });
}

/**
 * Training-mode batch norm over N, H, W of an NHWC tensor, with a closed-form gradient:
 * dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), written as two per-channel affine
 * maps (of dy and of x) so that nothing full-size but x is saved and no tile/transpose runs.
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
    const mean = channelMean(xi);
    // E[x^2] - E[x]^2 in float32: fine for activations of a normalised network; clamped at 0.
    const variance = tf.relu(tf.sub(channelMean(tf.square(xi) as tf.Tensor4D), tf.square(mean))) as tf.Tensor1D;
    onStats(mean, variance);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPSILON));
    const scale = tf.mul(g as tf.Tensor, rstd);
    const shift = tf.sub(b as tf.Tensor, tf.mul(mean, scale));
    const y = tf.add(tf.mul(xi, scale), shift);
    // Saved tensors are clones; the project's wasm Identity kernel makes a clone share memory.
    (save as tf.GradSaveFunc)([xi, mean, rstd, g as tf.Tensor]);
    return {
      value: y,
      // tfjs runs a custom gradient outside any tidy scope (its temporaries would live until the
      // whole backward pass ends), hence the explicit tidy here and below.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const [xs, mu, rs, gm] = saved;
        const dy4 = dy as tf.Tensor4D;
        const count = dy.size / dy.shape[3]!;
        const meanDy = channelMean(dy4);
        // mean(dy * xhat) = rstd * (mean(dy * x) - mu * mean(dy))
        const meanDyXhat = tf.mul(rs, tf.sub(channelMean(tf.mul(dy4, xs) as tf.Tensor4D), tf.mul(mu, meanDy)));
        const a = tf.mul(gm, rs); // coefficient of dy
        const bx = tf.neg(tf.mul(a, tf.mul(meanDyXhat, rs))); // coefficient of x
        const c = tf.neg(tf.add(tf.mul(a, meanDy), tf.mul(bx, mu))); // constant
        const dx = tf.add(tf.add(tf.mul(dy4, a), tf.mul(xs, bx)), c);
        return [dx, tf.mul(meanDyXhat, count), tf.mul(meanDy, count)];
      }),
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

