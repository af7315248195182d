import { describe, expect, it } from 'vitest';
import { MemoryGate } from './memory-gate.ts';
import { detectCapacity, RAM_SHARE, type CapacityProbes } from './capacity.ts';

describe('MemoryGate', () => {
  it('admits trials while their estimates fit together, never past the capacity, and frees memory on release', () => {
    const gate = new MemoryGate(10);
    expect(gate.admit('a', 3)).toEqual({ admitted: true });
    expect(gate.admit('b', 3)).toEqual({ admitted: true });
    expect(gate.admit('c', 4)).toEqual({ admitted: true });
    expect(gate.inUseMB).toBe(10);
    expect(gate.admit('d', 0.5)).toEqual({ admitted: false, reason: 'not-now', estimateMB: 0.5, capacityMB: 10, inUseMB: 10 });
    expect(gate.release('b')).toBe(true);
    expect(gate.release('b')).toBe(false);
    expect(gate.admit('d', 3)).toEqual({ admitted: true });
    expect(gate.count).toBe(3);
  });

  it('never admits a trial larger than the whole capacity, even when idle', () => {
    const gate = new MemoryGate(2.5);
    expect(gate.admit('big', 2.6)).toMatchObject({ admitted: false, reason: 'never', capacityMB: 2.5, inUseMB: 0 });
    expect(gate.count).toBe(0);
  });
});

describe('detectCapacity', () => {
  const GB = 1024 ** 3;
  const probes = (over: Partial<CapacityProbes> = {}): CapacityProbes => ({
    gpuBackendInstalled: () => false,
    gpuMemoryMB: async () => [81_559],
    ramBytes: () => 16 * GB,
    ...over,
  });

  it('takes WORKER_MEMORY_MB when set, whatever the machine has', async () => {
    expect(await detectCapacity({ WORKER_MEMORY_MB: 2.75, TFJS_BACKEND: 'auto' }, probes({ gpuBackendInstalled: () => true }))).toEqual({ mb: 2.75, source: 'WORKER_MEMORY_MB' });
  });

  it('packs into half the RAM without the GPU build of tfjs-node', async () => {
    expect(RAM_SHARE).toBe(0.5);
    expect(await detectCapacity({ TFJS_BACKEND: 'auto' }, probes())).toEqual({ mb: 8192, source: 'ram' });
  });

  it('packs into the smallest GPU when the tensorflow backend would train on one, and not when another backend is asked for', async () => {
    const gpu = probes({ gpuBackendInstalled: () => true, gpuMemoryMB: async () => [81_559, 40_960] });
    expect(await detectCapacity({ TFJS_BACKEND: 'tensorflow' }, gpu)).toEqual({ mb: 40_960, source: 'gpu' });
    expect(await detectCapacity({ TFJS_BACKEND: 'wasm' }, gpu)).toEqual({ mb: 8192, source: 'ram' });
  });

  it('falls back to RAM, saying why, when the GPU memory cannot be read', async () => {
    const warnings: string[] = [];
    const broken = probes({ gpuBackendInstalled: () => true, gpuMemoryMB: async () => Promise.reject(new Error('spawn nvidia-smi ENOENT')) });
    expect(await detectCapacity({ TFJS_BACKEND: 'auto' }, broken, (m) => warnings.push(m))).toEqual({ mb: 8192, source: 'ram' });
    expect(warnings[0]).toContain('nvidia-smi ENOENT');
    expect(warnings[0]).toContain('WORKER_MEMORY_MB');
  });
});
