/**
 * Fused batch-norm kernels of the `onednn` backend (the project's own kernel names; `nn/batch-norm.ts`
 * uses them when the active backend has them). A training-mode batch norm + ReLU is otherwise
 * about 15 full-size passes of separate tfjs ops (forward and backward), as much time as the
 * convolutions once those are native; fused it is four.
 */
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { OnednnAddon } from './addon.ts';

/** Kernel names, shared with `nn/batch-norm.ts`. */
export const BN_KERNELS = {
  /** x -> [mean(x), mean(x^2)] per channel. */
  moments: 'CapillaryBnMoments',
  /** (dy, gate?, y) -> [mean(dz), mean(dz * y)], dz = gate > 0 ? dy : 0. */
  gradMoments: 'CapillaryBnGradMoments',
  /** (x, scale, shift), attr relu -> [relu](x * scale + shift). */
  apply: 'CapillaryBnApply',
  /** (dy, gate?, y, a, b, k) -> dz * a + y * b + k. */
  grad: 'CapillaryBnGrad',
} as const;

interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: { HEAPF32: Float32Array };
}

const sizeOf = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);

function view(b: HeapBackend, t: TensorInfo | undefined): Float32Array | null {
  if (!t) return null;
  return new Float32Array(b.wasm.HEAPF32.buffer, b.dataIdMap.get(t.dataId)!.memoryOffset, sizeOf(t));
}

/** The two halves of a [2c] result as two [c] tensors. */
function split(b: HeapBackend, fill: (out: Float32Array) => void, c: number): TensorInfo[] {
  const mean = b.makeOutput([c], 'float32');
  const second = b.makeOutput([c], 'float32');
  const scratch = new Float32Array(2 * c);
  fill(scratch);
  view(b, mean)!.set(scratch.subarray(0, c));
  view(b, second)!.set(scratch.subarray(c));
  return [mean, second];
}

export function bnKernels(addon: OnednnAddon): Record<string, KernelFunc> {
  return {
    [BN_KERNELS.moments]: ({ inputs, backend }) => {
      const b = backend as unknown as HeapBackend;
      const { x } = inputs as { x: TensorInfo };
      const c = x.shape[x.shape.length - 1];
      return split(b, (out) => addon.bnMoments(view(b, x)!, c, out), c);
    },
    [BN_KERNELS.gradMoments]: ({ inputs, backend }) => {
      const b = backend as unknown as HeapBackend;
      const { dy, gate, y } = inputs as { dy: TensorInfo; gate?: TensorInfo; y: TensorInfo };
      const c = dy.shape[dy.shape.length - 1];
      return split(b, (out) => addon.bnGradMoments(view(b, dy)!, view(b, gate), view(b, y)!, c, out), c);
    },
    [BN_KERNELS.apply]: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as HeapBackend;
      const { x, scale, shift } = inputs as { x: TensorInfo; scale: TensorInfo; shift: TensorInfo };
      const out = b.makeOutput(x.shape, 'float32');
      const [xv, sv, hv, ov] = [x, scale, shift, out].map((t) => view(b, t)!);
      addon.bnApply(xv, sv, hv, Boolean((attrs as { relu?: boolean }).relu), ov);
      return out;
    },
    [BN_KERNELS.grad]: ({ inputs, backend }) => {
      const b = backend as unknown as HeapBackend;
      const { dy, gate, y, a, by, k } = inputs as Record<string, TensorInfo | undefined>;
      const out = b.makeOutput(dy!.shape, 'float32');
      const v = [dy, y, a, by, k, out].map((t) => view(b, t)!);
      addon.bnGrad(v[0], view(b, gate), v[1], v[2], v[3], v[4], v[5]);
      return out;
    },
  };
}
