/**
 * Backend selection: TensorFlow native (GPU, then CPU) when the production image has it, else
 * `onednn` (wasm with oneDNN convolutions, where the addon is built), else the multi-threaded SIMD
 * wasm backend with the project's training kernels, else the pure-JS cpu backend.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
// The union package registers every op's gradient with tfjs-core (the core bundle alone does not).
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from './kernels/index.ts';
import { registerThreadedWasm, threadsSupported } from './wasm-threads.ts';
import { ONEDNN, onednnUnavailableReason, registerOnednnBackend, setOnednnThreads } from './onednn/backend.ts';

export type BackendPreference = 'auto' | 'tensorflow' | 'onednn' | 'wasm' | 'cpu' | 'webgpu';

/** The backend asked for cannot be used on this machine. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

// The project kernels must be registered before the wasm backend initialises (their setup runs then).
registerWasmKernels();
// After the wasm kernels: the onednn backend starts from a copy of them.
registerOnednnBackend();

/** Loads a package that only the production image has, without making it a dependency. */
async function optionalImport(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

async function trySet(name: string): Promise<boolean> {
  try {
    if (!tf.findBackendFactory(name)) return false;
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

async function tryTensorflow(): Promise<boolean> {
  if (tf.findBackendFactory('tensorflow')) return trySet('tensorflow');
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if ((await optionalImport(pkg)) && (await trySet('tensorflow'))) return true;
  }
  return false;
}

let wasmThreads: number | undefined;

function threadCount(threads: number): number {
  return threads > 0 ? threads : Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** Registers the threaded wasm build on first use (it can be set up only once per process). */
function prepareWasm(want: number): void {
  if (wasmThreads === undefined && want > 1 && threadsSupported()) {
    registerThreadedWasm(want);
    wasmThreads = want;
  }
}

async function tryWasm(threads: number): Promise<boolean> {
  if (tf.getBackend() === 'wasm') return true;
  prepareWasm(threadCount(threads));
  return trySet('wasm');
}

let onednnThreads: number | undefined;
let saidWhyNotOnednn = false;

async function tryOnednn(threads: number, quiet: boolean): Promise<boolean> {
  const why = onednnUnavailableReason();
  if (why) {
    if (!quiet && !saidWhyNotOnednn) console.warn(`[engine] onednn backend unavailable, using wasm: ${why}`);
    saidWhyNotOnednn = true;
    return false;
  }
  const want = threadCount(threads);
  prepareWasm(want);
  // oneDNN uses the same count as XNNPACK (the wasm pool is fixed once started); deterministic for a fixed count.
  onednnThreads = wasmThreads ?? 1;
  setOnednnThreads(onednnThreads);
  return trySet(ONEDNN);
}

async function tryWebgpu(): Promise<boolean> {
  if (!tf.findBackendFactory('webgpu') && !(await optionalImport('@tensorflow/tfjs-backend-webgpu'))) return false;
  return trySet('webgpu');
}

/**
 * Sets the tfjs backend and returns the name actually in use.
 * `auto` tries tensorflow (tfjs-node-gpu, then tfjs-node), then wasm, then cpu; a named preference
 * throws {@link BackendUnavailableError} when that backend cannot start.
 * `threads` (wasm only): worker threads for XNNPACK, 0 or absent = all cores.
 */
export async function selectBackend(preference: BackendPreference = 'auto', threads = 0): Promise<string> {
  const attempts: Record<Exclude<BackendPreference, 'auto'>, () => Promise<boolean>> = {
    tensorflow: tryTensorflow,
    onednn: () => tryOnednn(threads, preference === 'onednn'),
    wasm: () => tryWasm(threads),
    cpu: () => trySet('cpu'),
    webgpu: tryWebgpu,
  };
  if (preference === 'auto') {
    for (const name of ['tensorflow', 'onednn', 'wasm', 'cpu'] as const) {
      if (await attempts[name]()) return tf.getBackend();
    }
    throw new BackendUnavailableError('no tfjs backend could start (tried tensorflow, onednn, wasm, cpu)');
  }
  const attempt = attempts[preference];
  if (!attempt) throw new BackendUnavailableError(`unknown backend "${preference}" (expected auto, tensorflow, onednn, wasm, cpu or webgpu)`);
  if (!(await attempt())) {
    const hint =
      preference === 'tensorflow'
        ? ' (@tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node is not installed in this image)'
        : preference === 'webgpu'
          ? ' (@tensorflow/tfjs-backend-webgpu is not installed or no GPU adapter was found)'
          : preference === 'onednn'
            ? ` (${onednnUnavailableReason() ?? 'it failed to start'})`
            : '';
    throw new BackendUnavailableError(`backend "${preference}" is unavailable${hint}`);
  }
  return tf.getBackend();
}

/** Threads the wasm or onednn backend runs with (1 when single-threaded or another backend is active). */
export function backendThreads(): number {
  const b = tf.getBackend();
  return b === 'wasm' ? (wasmThreads ?? 1) : b === ONEDNN ? (onednnThreads ?? 1) : 1;
}
