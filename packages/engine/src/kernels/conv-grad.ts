/**
 * Convolution gradients for the wasm backend, built on XNNPACK's (multi-threaded) forward
 * convolution instead of the stock scalar loops.
 *
 * - Conv2DBackpropFilter (missing from tfjs-backend-wasm 4.22): the filter gradient of an NHWC
 *   convolution is itself a convolution once batch and channels swap roles:
 *   dW[i,j,c,o] = sum_{n,y,x} xpad[n, y*s+i, x*s+j, c] * dy[n,y,x,o] is a conv of
 *   x^T [C, H, W, N] with dy^T [Ho, Wo, N, O] as the filter, dilated by the forward stride.
 * - Conv2DBackpropInput (stock is slow): for stride 1, the input gradient is the "full" convolution
 *   of dy with the spatially flipped, in/out-swapped filter. For a k x k filter with stride k and no
 *   padding (the 2x2/2 transposed convolution of U-Net decoders) it is a 1x1 convolution to k*k*C
 *   channels followed by depth-to-space. Other cases fall back to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { Scratch, type WasmBackendLike } from './wasm-compose.ts';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** The attributes both convolution gradients share. */
interface ConvAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

interface FilterAttrs extends ConvAttrs {
  filterShape: [number, number, number, number];
}

interface InputAttrs extends ConvAttrs {
  inputShape: [number, number, number, number];
}

function convInfoOf(xShape: number[], filterShape: number[], strides: FilterAttrs['strides'], pad: Pad, dimRoundingMode?: FilterAttrs['dimRoundingMode']) {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad as never,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** Filter gradient as a dilated convolution of the transposed input with the transposed dy. */
export const conv2dBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as FilterAttrs;
  if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
  const info = convInfoOf(x.shape, a.filterShape, a.strides, a.pad, a.dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = info;
  const { top, left } = info.padInfo;
  const s = new Scratch(backend as unknown as WasmBackendLike);
  try {
    const xt = s.run('Transpose', { x }, { perm: [3, 1, 2, 0] }); // [C, H, W, N]
    const dyt = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] }); // [Ho, Wo, N, O]
    // Pad so the output is at least kh x kw; extra rows (from floor division in the forward pass) are cropped.
    const bottom = Math.max(0, kh + (Ho - 1) * sh - H - top);
    const right = Math.max(0, kw + (Wo - 1) * sw - W - left);
    const r = s.run(
      'Conv2D',
      { x: xt, filter: dyt },
      { strides: 1, pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dilations: [sh, sw], dataFormat: 'NHWC', dimRoundingMode: 'floor' },
    ); // [C, oh, ow, O]
    const [C, oh, ow, O] = r.shape;
    const cropped = oh === kh && ow === kw ? r : s.run('Slice', { x: r }, { begin: [0, 0, 0, 0], size: [C, kh, kw, O] });
    const out = tf.getKernel('Transpose', 'wasm')!.kernelFunc({ inputs: { x: cropped }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo;
    return out;
  } finally {
    s.dispose();
  }
};

let stockBackpropInput: KernelFunc | undefined;

/** Input gradient (and transposed-convolution forward) through XNNPACK convolutions. */
export const conv2dBackpropInputWasm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as InputAttrs;
  if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropInput (wasm): only NHWC is supported');
  const info = convInfoOf(a.inputShape, filter.shape, a.strides, a.pad, a.dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inChannels: C, outChannels: O } = info;
  const { top, left, bottom, right } = info.padInfo;
  const [N, Hin, Win] = a.inputShape;
  const s = new Scratch(backend as unknown as WasmBackendLike);
  try {
    if (sh === 1 && sw === 1 && top <= kh - 1 && bottom <= kh - 1 && left <= kw - 1 && right <= kw - 1) {
      const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
      const swapped = s.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] }); // [kh, kw, O, C]
      const pad = [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [0, 0]];
      const out = tf.getKernel('Conv2D', 'wasm')!.kernelFunc({
        inputs: { x: dy, filter: swapped },
        backend,
        attrs: { strides: 1, pad, dilations: 1, dataFormat: 'NHWC', dimRoundingMode: 'floor' },
      }) as TensorInfo;
      return out;
    }
    const [, Ho, Wo] = dy.shape;
    if (sh === kh && sw === kw && top === 0 && left === 0 && Ho * kh === Hin && Wo * kw === Win) {
      // dx[n, y*k+i, x*k+j, c] = sum_o dy[n,y,x,o] W[i,j,c,o]: a 1x1 conv to (i, j, c) channels, then depth-to-space.
      const wt = s.run('Transpose', { x: filter }, { perm: [3, 0, 1, 2] }); // [O, kh, kw, C]
      const w1 = s.run('Reshape', { x: wt }, { shape: [1, 1, O, kh * kw * C] });
      const z = s.run('Conv2D', { x: dy, filter: w1 }, { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC' });
      // Depth-to-space as reshape + transpose: the stock wasm DepthToSpace kernel is ~50x slower.
      const z6 = s.run('Reshape', { x: z }, { shape: [N, Ho, Wo, kh, kw, C] });
      const t = s.run('Transpose', { x: z6 }, { perm: [0, 1, 3, 2, 4, 5] });
      return tf.getKernel('Reshape', 'wasm')!.kernelFunc({ inputs: { x: t }, backend, attrs: { shape: [N, Hin, Win, C] } }) as TensorInfo;
    }
    if (!stockBackpropInput) throw new Error('Conv2DBackpropInput (wasm): no fallback kernel for this configuration');
    return stockBackpropInput(args);
  } finally {
    s.dispose();
  }
};

/** Registers the convolution gradient kernels for `wasm` (idempotent). */
export function registerConvGradKernels(): void {
  const existing = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (existing && existing.kernelFunc !== conv2dBackpropInputWasm) {
    stockBackpropInput = existing.kernelFunc;
    const stockSetup = existing.setupFunc;
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    // The stock kernel stays reachable as the fallback, so its setup (cwrap) must still run.
    tf.registerKernel({
      kernelName: 'Conv2DBackpropInput',
      backendName: 'wasm',
      kernelFunc: conv2dBackpropInputWasm,
      setupFunc: stockSetup,
    } as KernelConfig);
  }
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilterWasm } as KernelConfig);
  }
}
