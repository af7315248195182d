/** Batch normalisation with a hand-written gradient (the generic tfjs one tiles and transposes). */
import * as tf from '@tensorflow/tfjs-core';
import { BN_KERNELS } from '../onednn/bn-kernels.ts';

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

const fusedOn = (kernel: string) => tf.getKernel(kernel, tf.getBackend()) !== undefined;

/**
 * Per-channel mean of x and of x^2: one fused pass where the backend has the kernel (onednn),
 * else two full-window average pools (and a square).
 */
export function channelMoments(x: tf.Tensor4D): [tf.Tensor1D, tf.Tensor1D] {
  if (fusedOn(BN_KERNELS.moments)) return tf.engine().runKernel(BN_KERNELS.moments, { x }) as unknown as [tf.Tensor1D, tf.Tensor1D];
  return [channelMean(x), channelMean(tf.square(x) as tf.Tensor4D)];
}

/** [relu](x * scale + shift) per channel: one fused pass where the backend has the kernel. */
export function scaleShift(x: tf.Tensor4D, scale: tf.Tensor1D, shift: tf.Tensor1D, relu: boolean): tf.Tensor4D {
  if (fusedOn(BN_KERNELS.apply)) return tf.engine().runKernel(BN_KERNELS.apply, { x, scale, shift }, { relu } as never) as tf.Tensor4D;
  const z = tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
  return relu ? (tf.relu(z) as tf.Tensor4D) : z;
}

/**
 * The backward pass of batch norm (+ ReLU when `gate`, the block's output, is given) on y, the
 * pre-norm input: dz = gate > 0 ? dy : 0, the means of dz and dz * y, and then dz * a + y * b + k.
 * Fused (two passes) where the backend has the kernels, else tfjs ops with dz computed once.
 */
export function batchNormBackward(dy: tf.Tensor4D, gate: tf.Tensor4D | null, y: tf.Tensor4D) {
  if (fusedOn(BN_KERNELS.gradMoments) && fusedOn(BN_KERNELS.grad)) {
    const inputs: tf.NamedTensorMap = gate ? { dy, gate, y } : { dy, y };
    const [meanDz, meanDzY] = tf.engine().runKernel(BN_KERNELS.gradMoments, inputs) as unknown as [tf.Tensor1D, tf.Tensor1D];
    return { meanDz, meanDzY, affine: (a: tf.Tensor1D, b: tf.Tensor1D, k: tf.Tensor1D) => tf.engine().runKernel(BN_KERNELS.grad, { ...inputs, a, by: b, k }) as tf.Tensor4D };
  }
  const dz = (gate ? tf.mul(dy, tf.step(gate)) : dy) as tf.Tensor4D;
  return {
    meanDz: channelMean(dz),
    meanDzY: channelMean(tf.mul(dz, y) as tf.Tensor4D),
    affine: (a: tf.Tensor1D, b: tf.Tensor1D, k: tf.Tensor1D) => tf.add(tf.add(tf.mul(dz, a), tf.mul(y, b)), k) as tf.Tensor4D,
  };
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
    const [mean, meanSq] = channelMoments(xi);
    // E[x^2] - E[x]^2 in float32: fine for activations of a normalised network; clamped at 0.
    const variance = tf.relu(tf.sub(meanSq, tf.square(mean))) as tf.Tensor1D;
    onStats(mean, variance);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPSILON));
    const scale = tf.mul(g as tf.Tensor, rstd);
    const shift = tf.sub(b as tf.Tensor, tf.mul(mean, scale));
    const y = scaleShift(xi, scale as tf.Tensor1D, shift as tf.Tensor1D, false);
    // Saved tensors are clones; the project's wasm Identity kernel makes a clone share memory.
    (save as tf.GradSaveFunc)([xi, mean, rstd, g as tf.Tensor]);
    return {
      value: y,
      // tfjs runs a custom gradient outside any tidy scope (its temporaries would live until the
      // whole backward pass ends), hence the explicit tidy here and below.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
        const [xs, mu, rs, gm] = saved;
        const count = dy.size / dy.shape[3]!;
        const back = batchNormBackward(dy as tf.Tensor4D, null, xs as tf.Tensor4D);
        const meanDy = back.meanDz;
        // mean(dy * xhat) = rstd * (mean(dy * x) - mu * mean(dy))
        const meanDyXhat = tf.mul(rs, tf.sub(back.meanDzY, tf.mul(mu, meanDy)));
        const a = tf.mul(gm, rs) as tf.Tensor1D; // coefficient of dy
        const bx = tf.neg(tf.mul(a, tf.mul(meanDyXhat, rs))) as tf.Tensor1D; // coefficient of x
        const c = tf.neg(tf.add(tf.mul(a, meanDy), tf.mul(bx, mu))) as tf.Tensor1D; // constant
        const dx = back.affine(a, bx, c);
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

