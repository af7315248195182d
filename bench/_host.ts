// The host a benchmark ran on: figures from different machines differ by 3x, so every bench prints it.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface Host {
  cpu: string;
  simd: string;
  simdBits: number;
  cores: number;
}

/** CPU model, widest vector extension in /proc/cpuinfo, and logical cores. */
export function describeHost(): Host {
  const info = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  const [simd, simdBits] = flags.has('avx512f') ? ['avx512', 512] : flags.has('avx2') ? ['avx2', 256] : flags.has('avx') ? ['avx', 256] : flags.has('sse2') ? ['sse', 128] : ['unknown', 0];
  return { cpu: os.cpus()[0]?.model ?? 'unknown', simd: simd as string, simdBits: simdBits as number, cores: os.cpus().length };
}

/** One line for a benchmark's header. */
export const hostLine = (h = describeHost()) => `host: ${h.cpu}, ${h.simd} (${h.simdBits} bit), ${h.cores} cores`;
