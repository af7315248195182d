/**
 * Convolution (and max-pool gradient) kernels of the `onednn` backend: oneDNN (through the addon) computes in place on the
 * wasm heap, where the inputs already are and where the output is allocated as any wasm kernel's.
 * Configurations oneDNN is not given (NCHW, activations other than ReLU, per-pixel biases) run the
 * wasm kernel of the same name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { OnednnAddon } from './addon.ts';

/** The part of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: { HEAPF32: Float32Array };
}

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

interface ConvAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW' | 'channelsLast' | 'channelsFirst';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs) {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad as never,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/**
 * The 17 numbers the addon takes, or undefined when oneDNN's output size rule
 * ((in + pads - dilated kernel) / stride + 1, floored) would not give tfjs's output size.
 */
function geometry(info: backend_util.Conv2DInfo): Int32Array | undefined {
  const { batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { top, left, bottom, right } = info.padInfo;
  const fits = (i: number, k: number, d: number, p0: number, p1: number, s: number, o: number) =>
    p0 >= 0 && p1 + s > 0 && Math.floor((i - ((k - 1) * d + 1) + p0 + p1) / s) + 1 === o;
  if (!fits(inHeight, filterHeight, dilationHeight, top, bottom, strideHeight, outHeight)) return undefined;
  if (!fits(inWidth, filterWidth, dilationWidth, left, right, strideWidth, outWidth)) return undefined;
  return Int32Array.from([
    batchSize, inHeight, inWidth, inChannels, filterHeight, filterWidth, outChannels, outHeight, outWidth,
    strideHeight, strideWidth, dilationHeight, dilationWidth, top, left, bottom, right,
  ]);
}

const nchw = (a: ConvAttrs) => a.dataFormat === 'NCHW' || a.dataFormat === 'channelsFirst';

/** Float32 views of tensors on the wasm heap, taken after every allocation (growth replaces the heap view). */
function views(backend: WasmHeapBackend, ts: TensorInfo[]): Float32Array[] {
  const heap = backend.wasm.HEAPF32;
  return ts.map((t) => {
    const size = t.shape.reduce((p, d) => p * d, 1);
    return new Float32Array(heap.buffer, backend.dataIdMap.get(t.dataId)!.memoryOffset, size);
  });
}

function wasmKernel(name: string): KernelFunc {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel ${name} is not registered`);
  return k.kernelFunc as KernelFunc;
}

/** Counts of native calls and fallbacks per kernel, and the oneDNN implementation each used (for tests and profiles). */
export const onednnCalls = { native: new Map<string, number>(), fallback: new Map<string, number>(), impls: new Map<string, string>() };
const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
const used = (kernel: string, impl: string) => {
  count(onednnCalls.native, kernel);
  onednnCalls.impls.set(`${kernel}:${impl}`, impl);
};

/** Builds the four kernels over one loaded addon. */
export function onednnKernels(addon: OnednnAddon): Record<string, KernelFunc> {
  const forward = (name: 'Conv2D' | 'FusedConv2D'): KernelFunc => (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as unknown as WasmHeapBackend;
    const { x, filter, bias, preluActivationWeights } = inputs as Record<string, TensorInfo | undefined>;
    const a = attrs as unknown as ConvAttrs & { activation?: string };
    const activation = a.activation ?? 'linear';
    const g = nchw(a) ? undefined : geometry(convInfo(x!.shape, filter!.shape, a));
    const biasOk = !bias || (bias.shape.length <= 1 && bias.shape.reduce((p, d) => p * d, 1) === filter!.shape[3]);
    if (!g || !biasOk || preluActivationWeights || (activation !== 'linear' && activation !== 'relu')) {
      count(onednnCalls.fallback, name);
      return wasmKernel(name)(args);
    }
    const out = backend.makeOutput([g[0], g[7], g[8], g[6]], 'float32');
    if (g[0] * g[7] * g[8] * g[6] === 0) return out;
    const [xv, wv, yv, bv] = views(backend, [x!, filter!, out, ...(bias ? [bias] : [])]);
    used(name, addon.conv2d(xv, wv, bv ?? null, yv, g, activation === 'relu'));
    return out;
  };

  const backpropInput: KernelFunc = (args) => {
    const backend = args.backend as unknown as WasmHeapBackend;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
    const g = nchw(a) ? undefined : geometry(convInfo(a.inputShape, filter.shape, a));
    if (!g) {
      count(onednnCalls.fallback, 'Conv2DBackpropInput');
      return wasmKernel('Conv2DBackpropInput')(args);
    }
    const out = backend.makeOutput([g[0], g[1], g[2], g[3]], 'float32');
    if (g[0] * g[1] * g[2] * g[3] === 0) return out;
    const [dyv, wv, dxv] = views(backend, [dy, filter, out]);
    used('Conv2DBackpropInput', addon.conv2dBackwardData(dyv, wv, dxv, g));
    return out;
  };

  const backpropFilter: KernelFunc = (args) => {
    const backend = args.backend as unknown as WasmHeapBackend;
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const a = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
    const g = nchw(a) ? undefined : geometry(convInfo(x.shape, a.filterShape, a));
    if (!g) {
      count(onednnCalls.fallback, 'Conv2DBackpropFilter');
      return wasmKernel('Conv2DBackpropFilter')(args);
    }
    const out = backend.makeOutput(a.filterShape, 'float32');
    const [xv, dyv, dwv] = views(backend, [x, dy, out]);
    if (x.shape.reduce((p, d) => p * d, 1) === 0) dwv.fill(0);
    else used('Conv2DBackpropFilter', addon.conv2dBackwardWeights(xv, dyv, dwv, g));
    return out;
  };

  // The stock wasm MaxPoolGrad is scalar: 70 ms per U-Net level in a step, as much as a convolution.
  const maxPoolGrad: KernelFunc = (args) => {
    const backend = args.backend as unknown as WasmHeapBackend;
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const a = args.attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
    const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad as never, a.dimRoundingMode);
    const out = backend.makeOutput(input.shape, 'float32');
    const g = Int32Array.from([
      info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth, info.outHeight, info.outWidth,
      info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
    ]);
    const [xv, dyv, dxv] = views(backend, [input, dy, out]);
    addon.maxPoolGrad(xv, dyv, dxv, g);
    count(onednnCalls.native, 'MaxPoolGrad');
    return out;
  };

  return {
    Conv2D: forward('Conv2D'),
    FusedConv2D: forward('FusedConv2D'),
    Conv2DBackpropInput: backpropInput,
    Conv2DBackpropFilter: backpropFilter,
    MaxPoolGrad: maxPoolGrad,
  };
}
