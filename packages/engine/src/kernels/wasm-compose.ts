/**
 * Helpers for writing wasm kernels out of other wasm kernels, the way tfjs backends compose their
 * own kernels: every intermediate is a backend TensorInfo that the kernel disposes itself, so the
 * engine never sees (or leaks) it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

/** The part of the wasm backend the project kernels use. */
export interface WasmBackendLike {
  disposeData(dataId: object): boolean;
}

/** Calls another kernel registered for `wasm` directly (no tape, no engine tracking). */
export function callKernel(
  name: string,
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel ${name} is not registered`);
  const out = (k.kernelFunc as KernelFunc)({ inputs, backend: backend as never, attrs });
  return Array.isArray(out) ? out[0] : out;
}

/** Tracks intermediates of one kernel call and disposes them at the end. */
export class Scratch {
  private readonly infos: TensorInfo[] = [];
  constructor(private readonly backend: WasmBackendLike) {}
  keep<T extends TensorInfo>(t: T): T {
    this.infos.push(t);
    return t;
  }
  run(name: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
    return this.keep(callKernel(name, this.backend, inputs, attrs));
  }
  dispose(except?: TensorInfo): void {
    for (const t of this.infos) if (t !== except) this.backend.disposeData(t.dataId);
    this.infos.length = 0;
  }
}
