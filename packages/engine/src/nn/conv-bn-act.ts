/** The fused convolution + batch norm + ReLU training op used by every ConvNormAct block. */
import * as tf from '@tensorflow/tfjs-core';
import { BN_EPSILON, batchNormBackward, channelMoments, scaleShift } from './batch-norm.ts';

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
    const [mean, meanSq] = channelMoments(y);
    // E[y^2] - E[y]^2 in float32, clamped at 0: one pass fewer than centring first.
    const variance = tf.relu(tf.sub(meanSq, tf.square(mean))) as tf.Tensor1D;
    o.onStats(mean, variance);
    const rstd = tf.rsqrt(tf.add(variance, BN_EPSILON));
    const scale = tf.mul(g, rstd);
    const shift = tf.sub(b, tf.mul(mean, scale));
    const out = scaleShift(y, scale as tf.Tensor1D, shift as tf.Tensor1D, o.relu);
    // Saved tensors are clones; the project's wasm Identity kernel makes a clone share memory.
    save([...ins, wt, y, out, mean, rstd, g]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // tfjs runs a custom gradient outside any tidy scope: without this one, every temporary
        // would live until the whole backward pass ends.
        const grads = tf.tidy(() => convBnActGradient(dy as tf.Tensor4D, saved, nx, o));
        releaseGradient(dy);
        return grads;
      },
    };
  });
  return op(...xs, w, gamma, beta) as tf.Tensor4D;
}

/**
 * Gradients of {@link convBnAct} for [...xs, w, gamma, beta]. Batch norm backward as two
 * per-channel affine maps: dy_conv = a * dz + by * y + c, with
 * a = gamma * rstd, by = -a * rstd * mean(dz * xhat), c = -(a * mean(dz) + by * mean(y)).
 */
function convBnActGradient(dy: tf.Tensor4D, saved: tf.Tensor[], nx: number, o: ConvBnOptions): tf.Tensor[] {
  const xs = saved.slice(0, nx) as tf.Tensor4D[];
  const [w, y, out, mu, rs, g] = saved.slice(nx) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
  const count = dy.size / dy.shape[3];
  const back = batchNormBackward(dy, o.relu ? out : null, y);
  const meanDz = back.meanDz;
  const meanDzXhat = tf.mul(rs, tf.sub(back.meanDzY, tf.mul(mu, meanDz)));
  const a = tf.mul(g, rs) as tf.Tensor1D;
  const by = tf.neg(tf.mul(a, tf.mul(meanDzXhat, rs))) as tf.Tensor1D;
  const c = tf.neg(tf.add(tf.mul(a, meanDz), tf.mul(by, mu))) as tf.Tensor1D;
  const dyConv = back.affine(a, by, c);
  const ws = splitFilterByInputs(w, xs);
  const dxs = xs.map((xi, i) => tf.conv2dTranspose(dyConv, ws[i], xi.shape, o.stride, 'same'));
  const dws = xs.map(
    (xi, i) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: xi, dy: dyConv }, {
        strides: o.stride,
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape: ws[i].shape,
      } as never) as tf.Tensor4D,
  );
  const dw = dws.length === 1 ? dws[0] : tf.concat(dws, 2);
  return [...dxs, dw, tf.mul(meanDzXhat, count), tf.mul(meanDz, count)];
}

/**
 * Frees the incoming gradient of an op once its own gradients are computed. tfjs keeps every
 * intermediate gradient until the whole backward pass ends; this op's output gradient is final
 * when its gradient function runs (reverse topological order) and nothing else reads it, and other
 * tensor objects that share its memory keep their reference. Cuts peak memory by about one
 * activation per block.
 */
function releaseGradient(dy: tf.Tensor): void {
  dy.dispose();
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
