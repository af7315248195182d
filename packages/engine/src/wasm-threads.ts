/**
 * Multi-threaded tfjs wasm backend for Node.
 *
 * tfjs-backend-wasm turns its threaded build off under Node because the Emscripten pthread workers
 * are created from `blob:` URLs, which Node's `worker_threads` cannot load. This module registers
 * a replacement `wasm` backend factory that writes the worker script into a private temporary
 * folder, points the workers at the Emscripten main script on disk, and reports twice the requested
 * thread count as the core count (tfjs caps its pool at half the logical cores).
 */
import { createRequire } from 'node:module';
import { lstatSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

/** Whether this Node can run the threaded build (shared memory and workers). */
export function threadsSupported(): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && 'WebAssembly' in globalThis;
}

let workerFile: string | undefined;
const FOLDER_PREFIX = 'capillary-tfwasm-';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes this user's folders left by processes that died without running their exit hook (a
 * sandbox killed by a signal): each job's process makes one, and they would pile up.
 */
function removeStaleFolders(): void {
  const uid = process.getuid?.();
  for (const name of readdirSync(os.tmpdir())) {
    const pid = Number(/^capillary-tfwasm-(\d+)-[^-]+$/.exec(name)?.[1]);
    if (!pid || pidAlive(pid)) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      const st = lstatSync(dir);
      if (st.isDirectory() && (uid === undefined || st.uid === uid)) rmSync(dir, { recursive: true, force: true });
    } catch {
      /* gone already, or not ours to read */
    }
  }
}

/**
 * Writes the pthread worker script into a folder only this process can write (`mkdtemp` makes it
 * 0700 with an unguessable name) and returns its path. A shared, predictable path in the temp folder
 * would let anyone who can write there plant a script that the workers then run as this user.
 */
function workerScriptPath(packageDir: string): string {
  if (workerFile) return workerFile;
  const { wasmWorkerContents } = require(path.join(packageDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  removeStaleFolders();
  const dir = mkdtempSync(path.join(os.tmpdir(), `${FOLDER_PREFIX}${process.pid}-`));
  const file = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js');
  // The package escapes newlines the same way before building its Blob. `wx`: fail rather than
  // follow anything already there.
  writeFileSync(file, wasmWorkerContents.replace(/\n/g, '\\n'), { mode: 0o600, flag: 'wx' });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  workerFile = file;
  return file;
}

/** Where this process's wasm worker script lives (undefined until the threaded build is registered). */
export function wasmWorkerScriptFile(): string | undefined {
  return workerFile;
}

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  [k: string]: unknown;
}

/**
 * Replaces the `wasm` backend registration with one that uses the threaded SIMD build with
 * `threads` workers. Must run before the first `tf.setBackend('wasm')`.
 */
export function registerThreadedWasm(threads: number): void {
  const packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const mainScript = path.join(packageDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const factory = require(mainScript) as (config: object) => Promise<EmscriptenModule>;
  const workerScript = workerScriptPath(packageDir);
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const cpus = os.cpus;
      const fakeCores = Array.from({ length: threads * 2 }, () => cpus()[0]);
      os.cpus = () => fakeCores;
      try {
        const module = await factory({
          locateFile: (p: string) => (p.endsWith('.worker.js') ? workerScript : path.join(packageDir, 'wasm-out', p)),
          mainScriptUrlOrBlob: mainScript,
        });
        module.tfjs = {
          init: module.cwrap('init', null, []),
          initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
          getThreadsCount: module.cwrap('get_threads_count', 'number', []),
          registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
          disposeData: module.cwrap('dispose_data', null, ['number']),
          dispose: module.cwrap('dispose', null, []),
        };
        wasmBackend.setThreadsCount(threads);
        return new wasmBackend.BackendWasm(module as never);
      } finally {
        os.cpus = cpus;
      }
    },
    2,
  );
}
