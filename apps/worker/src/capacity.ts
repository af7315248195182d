// How much memory a worker packs training trials into (WORKER_MEMORY_MB, else detected at start-up).
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Env } from '@capillary/contracts';

const MB = 1024 * 1024;

/** Share of the RAM a CPU worker packs trials into: the rest is the worker, its sandboxes' runtimes and the chunk cache. */
export const RAM_SHARE = 0.5;

export interface Capacity {
  mb: number;
  source: 'WORKER_MEMORY_MB' | 'gpu' | 'ram';
}

/** What detection reads from the machine; the defaults read this one. */
export interface CapacityProbes {
  /** Whether the GPU build of tfjs-node is installed (the tensorflow backend then trains on the GPU). */
  gpuBackendInstalled(): boolean;
  /** Total memory of each GPU nvidia-smi lists, in MB; rejects when there is none or no nvidia-smi. */
  gpuMemoryMB(): Promise<number[]>;
  /** RAM this process may use, in bytes: the cgroup's limit where one is set, else the machine's. */
  ramBytes(): number;
}

export const machineProbes: CapacityProbes = {
  gpuBackendInstalled: () => {
    try {
      createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu');
      return true;
    } catch {
      return false;
    }
  },
  gpuMemoryMB: () =>
    new Promise((resolve, reject) => {
      execFile('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { timeout: 10_000 }, (err, stdout) => {
        if (err) return reject(err);
        const sizes = stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isFinite(n) && n > 0);
        return sizes.length ? resolve(sizes) : reject(new Error(`nvidia-smi listed no GPU memory: ${JSON.stringify(stdout.slice(0, 200))}`));
      });
    }),
  ramBytes: () => {
    const limit = process.constrainedMemory?.() ?? 0;
    // A cgroup without a limit reports a huge number (or 0): the machine's RAM is then the bound.
    return limit > 0 ? Math.min(limit, os.totalmem()) : os.totalmem();
  },
};

/**
 * The worker's capacity: WORKER_MEMORY_MB when set; else, where the tensorflow backend would train
 * on a GPU, the smallest GPU's memory (the sandboxes share it, and nvidia-smi ignores
 * CUDA_VISIBLE_DEVICES, so the smallest is the safe guess); else RAM_SHARE of the RAM. A GPU
 * that cannot be read falls back to RAM, with `onWarning` saying why.
 */
export async function detectCapacity(
  config: Pick<Env, 'WORKER_MEMORY_MB' | 'TFJS_BACKEND'>,
  probes: CapacityProbes = machineProbes,
  onWarning: (message: string) => void = () => undefined,
): Promise<Capacity> {
  if (config.WORKER_MEMORY_MB !== undefined) return { mb: config.WORKER_MEMORY_MB, source: 'WORKER_MEMORY_MB' };
  if ((config.TFJS_BACKEND === 'auto' || config.TFJS_BACKEND === 'tensorflow') && probes.gpuBackendInstalled()) {
    try {
      return { mb: Math.min(...(await probes.gpuMemoryMB())), source: 'gpu' };
    } catch (e) {
      onWarning(`tfjs-node-gpu is installed but the GPU memory could not be read (${(e as Error).message.split('\n')[0]}): packing into ${RAM_SHARE} of the RAM instead; set WORKER_MEMORY_MB`);
    }
  }
  return { mb: Math.floor((probes.ramBytes() * RAM_SHARE) / MB), source: 'ram' };
}
