/**
 * Identity for wasm that shares the input's memory (reference-counted), as the cpu backend does.
 * The stock kernel copies, and tfjs clones every tensor a gradient saves: with copies, a training
 * step on wasm spends time and about a third of its peak memory on duplicates.
 * Safe because tfjs never writes into a tensor's memory after creating it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

interface RefCountingBackend {
  incRef(dataId: object): void;
}

let stockIdentity: KernelFunc | undefined;

export const identityWasm: KernelFunc = (args) => {
  const x = args.inputs.x as TensorInfo;
  if (x.dtype === 'string') return stockIdentity!(args);
  (args.backend as unknown as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export function registerIdentityKernel(): void {
  const existing = tf.getKernel('Identity', 'wasm');
  if (existing?.kernelFunc === identityWasm) return;
  stockIdentity = existing?.kernelFunc;
  if (existing) tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: identityWasm, setupFunc: existing?.setupFunc } as KernelConfig);
}
