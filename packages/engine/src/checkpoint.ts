/**
 * Checkpoint bytes: `CAPCKPT1`, a little-endian uint32 header length, a UTF-8 JSON header, zero
 * padding to a multiple of 4, then the float32 data of every tensor the header lists (model
 * parameters `param/<name>`, Adam moments `adam.m/<name>` and `adam.v/<name>`).
 */
import type { ModelConfig } from './models/unet.ts';

export const CHECKPOINT_MAGIC = 'CAPCKPT1';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointTensor {
  name: string;
  shape: number[];
  /** Offset in float32 elements from the start of the data section. */
  offset: number;
}

export interface CheckpointHeader {
  version: number;
  model: ModelConfig;
  /** Last completed epoch (1-based). */
  epoch: number;
  /** Optimiser updates applied. */
  step: number;
  /** Training state needed to continue exactly; absent in inference-only checkpoints. */
  training?: {
    samplerState: unknown;
    bestEpoch: number | null;
    bestScore: number | null;
    epochsWithoutImprovement: number;
    spec: unknown;
  };
  backend: string;
  tensors: CheckpointTensor[];
}

/** The bytes are not a checkpoint this engine can read. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function encodeCheckpoint(header: Omit<CheckpointHeader, 'tensors' | 'version'>, tensors: Array<{ name: string; shape: number[]; data: Float32Array }>): Uint8Array {
  let offset = 0;
  const entries: CheckpointTensor[] = tensors.map((t) => {
    const e = { name: t.name, shape: t.shape, offset };
    offset += t.data.length;
    return e;
  });
  const json = new TextEncoder().encode(JSON.stringify({ version: CHECKPOINT_VERSION, ...header, tensors: entries }));
  const headStart = 8 + 4;
  const dataStart = Math.ceil((headStart + json.length) / 4) * 4;
  const out = new Uint8Array(dataStart + offset * 4);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, headStart);
  const data = new Float32Array(out.buffer, dataStart, offset);
  for (let i = 0; i < tensors.length; i++) data.set(tensors[i].data, entries[i].offset);
  return out;
}

export interface DecodedCheckpoint {
  header: CheckpointHeader;
  tensor(name: string): { shape: number[]; data: Float32Array } | undefined;
}

export function decodeCheckpoint(bytes: Uint8Array): DecodedCheckpoint {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== CHECKPOINT_MAGIC) {
    throw new CheckpointError('not a Capillary checkpoint (bad magic bytes)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = view.getUint32(8, true);
  if (12 + len > bytes.length) throw new CheckpointError('truncated checkpoint header');
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len)));
  } catch (e) {
    throw new CheckpointError(`unreadable checkpoint header: ${(e as Error).message}`);
  }
  if (header.version !== CHECKPOINT_VERSION) throw new CheckpointError(`unsupported checkpoint version ${header.version}`);
  const dataStart = Math.ceil((12 + len) / 4) * 4;
  const total = header.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  if (dataStart + total * 4 > bytes.length) throw new CheckpointError('truncated checkpoint data');
  // Copy so the result is aligned whatever the input's byteOffset.
  const data = new Float32Array(bytes.slice(dataStart, dataStart + total * 4).buffer);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  return {
    header,
    tensor(name) {
      const t = byName.get(name);
      if (!t) return undefined;
      const n = t.shape.reduce((x, y) => x * y, 1);
      return { shape: t.shape, data: data.subarray(t.offset, t.offset + n) };
    },
  };
}
