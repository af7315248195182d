/**
 * Building blocks of the segmentation networks (NHWC). Each block creates its parameters when
 * constructed, in a fixed order, and applies them in `apply`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.ts';
import { BN_EPSILON, BN_MOMENTUM, batchNormInfer, batchNormTrain } from './batch-norm.ts';
import { convBnAct } from './conv-bn-act.ts';
import { dropout } from './ops.ts';

/** What a forward pass needs besides the input. */
export interface ForwardContext {
  training: boolean;
  /** Seed of this step's dropout masks; each dropout site adds its own offset. */
  dropoutSeed: number;
}

export type Normalization = 'batch' | 'none';

export class Conv {
  readonly w: tf.Variable;
  readonly b?: tf.Variable;
  private readonly mask?: tf.Tensor4D;
  constructor(
    store: ParamStore,
    name: string,
    readonly k: number,
    cin: number,
    readonly cout: number,
    opts: { bias?: boolean; groups?: number; biasInit?: number } = {},
  ) {
    const groups = opts.groups ?? 1;
    if (cin % groups || cout % groups) throw new Error(`${name}: ${cin}->${cout} channels do not split into ${groups} groups`);
    this.w = store.add(`${name}/w`, [k, k, cin, cout], { kind: 'he', fanIn: (k * k * cin) / groups });
    if (groups > 1) {
      // Grouped convolution as a dense one with a block-diagonal filter: tfjs has no grouped conv,
      // and masked entries get zero gradients, so they stay zero.
      const m = new Float32Array(k * k * cin * cout);
      const gi = cin / groups;
      const go = cout / groups;
      for (let t = 0; t < k * k; t++)
        for (let i = 0; i < cin; i++)
          for (let o = 0; o < cout; o++) if (Math.floor(i / gi) === Math.floor(o / go)) m[(t * cin + i) * cout + o] = 1;
      this.mask = tf.keep(tf.tensor4d(m, [k, k, cin, cout]));
      const masked = tf.mul(this.w, this.mask);
      this.w.assign(masked);
      masked.dispose();
    }
    if (opts.bias) this.b = store.add(`${name}/b`, [cout], { kind: 'constant', value: opts.biasInit ?? 0 });
  }
  /**
   * Applies the convolution. Several inputs act as their channel-wise concatenation, computed as a
   * sum of convolutions with slices of the filter: concat and its gradient are slow on wasm.
   */
  apply(x: tf.Tensor4D | tf.Tensor4D[], stride = 1): tf.Tensor4D {
    const w = this.effectiveFilter();
    let y: tf.Tensor4D;
    if (Array.isArray(x)) {
      const parts = this.splitFilter(w, x).map((wi, i) => tf.conv2d(x[i], wi, stride, 'same'));
      y = parts.length === 1 ? parts[0] : (tf.addN(parts) as tf.Tensor4D);
    } else y = tf.conv2d(x, w, stride, 'same');
    return this.b ? tf.add(y, this.b) : y;
  }

  /** The filter with the group mask applied. */
  effectiveFilter(): tf.Tensor4D {
    return this.mask ? (tf.mul(this.w, this.mask) as tf.Tensor4D) : (this.w as unknown as tf.Tensor4D);
  }

  /** Slices of the filter along input channels matching each input's channel count. */
  splitFilter(w: tf.Tensor4D, xs: tf.Tensor4D[]): tf.Tensor4D[] {
    let c0 = 0;
    const out = xs.map((xi) => {
      const ci = xi.shape[3];
      const wi = tf.slice(w, [0, 0, c0, 0], [this.k, this.k, ci, this.cout]);
      c0 += ci;
      return wi;
    });
    if (c0 !== w.shape[2]) throw new RangeError(`inputs have ${c0} channels in all, filter expects ${w.shape[2]}`);
    return out;
  }
  dispose(): void {
    this.mask?.dispose();
  }
}

export class BatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
  constructor(store: ParamStore, name: string, c: number, gammaInit = 1) {
    this.gamma = store.add(`${name}/gamma`, [c], { kind: 'constant', value: gammaInit });
    this.beta = store.add(`${name}/beta`, [c], { kind: 'zeros' });
    this.mean = store.add(`${name}/running_mean`, [c], { kind: 'zeros' }, false);
    this.variance = store.add(`${name}/running_var`, [c], { kind: 'ones' }, false);
  }
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const g = this.gamma as unknown as tf.Tensor1D;
    const b = this.beta as unknown as tf.Tensor1D;
    if (!ctx.training) return batchNormInfer(x, g, b, this.mean as unknown as tf.Tensor1D, this.variance as unknown as tf.Tensor1D);
    const n = x.size / x.shape[3];
    return batchNormTrain(x, g, b, (mean, variance) => this.updateRunning(mean, variance, n));
  }
  /** Moves the running statistics towards a batch's (running variance is unbiased, as in PyTorch). */
  updateRunning(mean: tf.Tensor1D, variance: tf.Tensor1D, count: number): void {
    const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
    this.mean.assign(tf.add(tf.mul(this.mean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    this.variance.assign(tf.add(tf.mul(this.variance, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)));
  }
}

/** Convolution, optional batch norm, optional ReLU. */
export class ConvNormAct {
  readonly conv: Conv;
  readonly bn?: BatchNorm;
  constructor(
    store: ParamStore,
    name: string,
    k: number,
    cin: number,
    cout: number,
    norm: Normalization,
    readonly relu = true,
    opts: { groups?: number; gammaInit?: number } = {},
  ) {
    this.conv = new Conv(store, `${name}/conv`, k, cin, cout, { bias: norm === 'none', groups: opts.groups });
    if (norm === 'batch') this.bn = new BatchNorm(store, `${name}/bn`, cout, opts.gammaInit);
  }
  apply(x: tf.Tensor4D | tf.Tensor4D[], ctx: ForwardContext, stride = 1): tf.Tensor4D {
    if (!ctx.training || !this.bn) return this.applyFused(x, stride);
    const bn = this.bn;
    const xs = Array.isArray(x) ? x : [x];
    const n = xs[0].shape[0] * xs[0].shape[1] * xs[0].shape[2];
    return convBnAct(xs, this.conv.effectiveFilter(), bn.gamma as unknown as tf.Tensor1D, bn.beta as unknown as tf.Tensor1D, {
      relu: this.relu,
      stride,
      onStats: (mean, variance) => bn.updateRunning(mean, variance, n),
    });
  }

  /**
   * One fused convolution (bias and ReLU inside XNNPACK's pass) with inference batch norm folded
   * into the filter and bias: three fewer full-size passes per layer.
   */
  private applyFused(x: tf.Tensor4D | tf.Tensor4D[], stride: number): tf.Tensor4D {
    const c = this.conv;
    let w = c.effectiveFilter();
    let bias: tf.Tensor1D | undefined = c.b as unknown as tf.Tensor1D | undefined;
    if (this.bn) {
      const bn = this.bn;
      const scale = tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.variance, BN_EPSILON)));
      w = tf.mul(w, scale) as tf.Tensor4D;
      bias = tf.sub(bn.beta, tf.mul(bn.mean, scale)) as tf.Tensor1D;
      if (c.b) bias = tf.add(bias, tf.mul(c.b, scale)) as tf.Tensor1D;
    }
    const activation = this.relu ? 'relu' : 'linear';
    const xs = Array.isArray(x) ? x : [x];
    if (xs.length === 1) return tf.fused.conv2d({ x: xs[0], filter: w, strides: stride, pad: 'same', bias, activation });
    const parts = c.splitFilter(w, xs).map((wi, i) => tf.conv2d(xs[i], wi, stride, 'same'));
    let y = tf.addN(parts) as tf.Tensor4D;
    if (bias) y = tf.add(y, bias);
    return this.relu ? tf.relu(y) : y;
  }
  dispose(): void {
    this.conv.dispose();
  }
}

/** Two 3x3 ConvNormAct: the U-Net block. */
export class DoubleConv {
  private readonly a: ConvNormAct;
  private readonly b: ConvNormAct;
  constructor(store: ParamStore, name: string, cin: number, cout: number, norm: Normalization) {
    this.a = new ConvNormAct(store, `${name}/1`, 3, cin, cout, norm);
    this.b = new ConvNormAct(store, `${name}/2`, 3, cout, cout, norm);
  }
  /** An array input acts as its channel-wise concatenation. */
  apply(x: tf.Tensor4D | tf.Tensor4D[], ctx: ForwardContext): tf.Tensor4D {
    return this.b.apply(this.a.apply(x, ctx), ctx);
  }
}

/** 2x2 stride-2 transposed convolution (learned upsampling) with bias. */
export class UpConv {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  constructor(store: ParamStore, name: string, cin: number, readonly cout: number) {
    // conv2dTranspose filters are [h, w, out, in].
    this.w = store.add(`${name}/w`, [2, 2, cout, cin], { kind: 'he', fanIn: cin });
    this.b = store.add(`${name}/b`, [cout], { kind: 'zeros' });
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w] = x.shape;
    const y = tf.conv2dTranspose(x, this.w as unknown as tf.Tensor4D, [n, h * 2, w * 2, this.cout], 2, 'valid');
    return tf.add(y, this.b);
  }
}

/** Dropout site with a fixed offset into the step's seed. */
export class Dropout {
  constructor(
    readonly rate: number,
    private readonly site: number,
  ) {}
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    if (!ctx.training || this.rate <= 0) return x;
    return dropout(x, this.rate, (ctx.dropoutSeed + this.site * 7919) % 2147483647);
  }
}

export function maxPool2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.maxPool(x, 2, 2, 'valid');
}
