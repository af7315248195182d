/**
 * The `onednn` tfjs backend: the (multi-threaded SIMD) wasm backend's instance, heap and kernels,
 * with the convolutions replaced by oneDNN kernels that work in place on the wasm heap.
 *
 * Why one shared instance: tfjs-backend-wasm's kernels bind their wasm functions in module-level
 * variables when a backend initialises, so a second wasm module (a separate backend object) would
 * rebind them under the first one's tensors. The `onednn` factory therefore returns the `wasm`
 * backend's object (creating it with the `wasm` factory when needed and recording it as `wasm` too);
 * tensors then move between the two names without copies, and everything that is not a
 * convolution runs on XNNPACK as before.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig } from '@tensorflow/tfjs-core';
import { onednnAddon, onednnUnavailableReason } from './addon.ts';
import { onednnKernels } from './kernels.ts';
import { bnKernels } from './bn-kernels.ts';

export const ONEDNN = 'onednn';

interface EngineInternals {
  registry: Record<string, KernelBackend | undefined>;
  registryFactory: Record<string, { factory: () => KernelBackend | Promise<KernelBackend> } | undefined>;
}

let registered = false;

/**
 * Registers the `onednn` backend and its kernels: every `wasm` kernel (the project's included, so
 * call after they are registered) with the convolutions replaced. No-op when the addon is missing.
 */
export function registerOnednnBackend(): boolean {
  if (registered) return true;
  const addon = onednnAddon();
  if (!addon) return false;
  const native = onednnKernels(addon);
  for (const k of tf.getKernelsForBackend('wasm')) {
    if (k.kernelName in native) continue;
    tf.registerKernel({ ...k, backendName: ONEDNN } as KernelConfig);
  }
  // The wasm versions run as fallbacks, so their setup (binding wasm functions) must still run.
  for (const [kernelName, kernelFunc] of Object.entries(native)) {
    const stock = tf.getKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: ONEDNN, kernelFunc, setupFunc: stock?.setupFunc } as KernelConfig);
  }
  for (const [kernelName, kernelFunc] of Object.entries(bnKernels(addon))) tf.registerKernel({ kernelName, backendName: ONEDNN, kernelFunc } as KernelConfig);
  tf.registerBackend(ONEDNN, async () => {
    const engine = tf.engine() as unknown as EngineInternals;
    let wasm = engine.registry.wasm;
    if (!wasm) {
      const factory = engine.registryFactory.wasm?.factory;
      if (!factory) throw new Error('the wasm backend is not registered');
      wasm = await factory();
      engine.registry.wasm = wasm;
    }
    return wasm;
    // Lowest priority: tfjs never picks it by itself; selectBackend does.
  }, 0);
  registered = true;
  return true;
}

/** Sets oneDNN's (OpenMP) thread count; false when the addon is unavailable. */
export function setOnednnThreads(threads: number): boolean {
  const addon = onednnAddon();
  if (!addon) return false;
  addon.setThreads(threads);
  return true;
}

export { onednnUnavailableReason };
