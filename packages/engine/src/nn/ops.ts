/**
 * Layer operations with hand-written gradients where the generic tfjs ones are slow on CPU
 * backends. Shared by every model.
 */
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
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
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

export interface ConvBnOptions {
  relu: boolean;
  stride: number;
  onStats: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void;
}

/**
 * Convolution + training-mode batch norm + optional ReLU as one differentiable op. Inputs `xs` act
 * as their channel-wise concatenation (a sum of convolutions with slices of `w`).
 *
 * Why one op: tfjs keeps what each taped op saves, and every intermediate gradient, until the whole
 * backward pass ends. As one op, only the input, the conv output and the block output are kept
 * (conv, batch norm and ReLU as separate ops keep about twice that), and the backward temporaries
 * are freed as soon as the op's gradient is computed.
 */
export function convBnAct(xs: tf.Tensor4D[], w: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, o: ConvBnOptions): tf.Tensor4D {
  const nx = xs.length;
  const op = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const ins = args.slice(0, nx) as tf.Tensor4D[];
    const [wt, g, b] = args.slice(nx, nx + 3) as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    const ws = splitFilterByInputs(wt, ins);
    const convs = ins.map((xi, i) => tf.conv2d(xi, ws[i], o.stride, 'same'));
    const y = (convs.length === 1 ? convs[0] : tf.addN(convs)) as tf.Tensor4D;
    const mean = channelMean(y);
    const variance = tf.relu(tf.sub(channelMean(tf.square(y) as tf.Tensor4D), tf.square(mean))) as tf.Tensor1D;
    o.onStats(mean, variance);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPSILON));
    const scale = tf.mul(g, rstd);
    const shift = tf.sub(b, tf.mul(mean, scale));
    const z = tf.add(tf.mul(y, scale), shift) as tf.Tensor4D;
    const out = o.relu ? (tf.relu(z) as tf.Tensor4D) : z;
    save([...ins, wt, y, out, mean, rstd, g]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const sx = saved.slice(0, nx) as tf.Tensor4D[];
        const [sw, sy, sout, mu, rs, gm] = saved.slice(nx) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const dz = (o.relu ? tf.mul(dy, tf.step(sout)) : dy) as tf.Tensor4D;
        const count = dz.size / dz.shape[3];
        const meanDz = channelMean(dz);
        const meanDzXhat = tf.mul(rs, tf.sub(channelMean(tf.mul(dz, sy) as tf.Tensor4D), tf.mul(mu, meanDz)));
        const a = tf.mul(gm, rs);
        const by = tf.neg(tf.mul(a, tf.mul(meanDzXhat, rs)));
        const c = tf.neg(tf.add(tf.mul(a, meanDz), tf.mul(by, mu)));
        const dyConv = tf.add(tf.add(tf.mul(dz, a), tf.mul(sy, by)), c) as tf.Tensor4D;
        const wsSaved = splitFilterByInputs(sw, sx);
        const dxs = sx.map((xi, i) => tf.conv2dTranspose(dyConv, wsSaved[i], xi.shape, o.stride, 'same'));
        const dws = sx.map(
          (xi, i) =>
            tf.engine().runKernel('Conv2DBackpropFilter', { x: xi, dy: dyConv }, {
              strides: o.stride,
              pad: 'same',
              dataFormat: 'NHWC',
              dimRoundingMode: undefined,
              filterShape: wsSaved[i].shape,
            } as never) as tf.Tensor4D,
        );
        const dw = dws.length === 1 ? dws[0] : tf.concat(dws, 2);
        return [...dxs, dw, tf.mul(meanDzXhat, count), tf.mul(meanDz, count)];
      },
    };
  });
  return op(...xs, w, gamma, beta) as tf.Tensor4D;
}

/** Slices of a filter along input channels matching each input's channel count. */
export function splitFilterByInputs(w: tf.Tensor4D, xs: tf.Tensor4D[]): tf.Tensor4D[] {
  if (xs.length === 1) return [w];
  const [kh, kw, cin, cout] = w.shape;
  let c0 = 0;
  const out = xs.map((xi) => {
    const wi = tf.slice(w, [0, 0, c0, 0], [kh, kw, xi.shape[3], cout]);
    c0 += xi.shape[3];
    return wi;
  });
  if (c0 !== cin) throw new RangeError(`inputs have ${c0} channels in all, filter expects ${cin}`);
  return out;
}
