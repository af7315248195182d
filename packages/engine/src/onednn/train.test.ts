import { existsSync } from 'node:fs';
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Value } from 'typebox/value';
import { ExperimentSpec } from '@capillary/contracts';
import { selectBackend } from '../backend.ts';
import { decodeCheckpoint } from '../checkpoint.ts';
import { train, type EpochReport } from '../train.ts';
import { tubeVolume } from '../testing/tubes.ts';
import { onednnCalls } from './kernels.ts';

const hasOnednn = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') && process.env.CAPILLARY_ONEDNN !== '0';
const trainVol = tubeVolume('train', [24, 48, 48], 1, 14);
const valVol = tubeVolume('val', [12, 48, 48], 2, 8);

function spec(over: Partial<ExperimentSpec> = {}): ExperimentSpec {
  // 6 base filters: channel counts (6, 12) that are not multiples of oneDNN's 8/16 blocks.
  return Value.Default(ExperimentSpec, { dataset: 'tubes', model: 'unet', epochs: 3, lr: 0.01, tileSize: 32, batchSize: 4, stepsPerEpoch: 12, baseFilters: 6, depth: 2, augmentationP: 0.2, seed: 3, ...over }) as ExperimentSpec;
}

async function run(s: ExperimentSpec, resume?: Uint8Array) {
  const reports: EpochReport[] = [];
  const checkpoints: Uint8Array[] = [];
  const losses: number[] = [];
  await train({ spec: s, train: [trainVol], validation: [valVol], resume, onProgress: (p) => losses.push(p.loss), onEpoch: async (r, c) => void (reports.push(r), checkpoints.push(c)) });
  return { reports, checkpoints, losses };
}

function params(bytes: Uint8Array): Map<string, Float32Array> {
  const ck = decodeCheckpoint(bytes);
  return new Map(ck.header.tensors.filter((t) => t.name.startsWith('param/')).map((t) => [t.name, ck.tensor(t.name)!.data]));
}

describe.runIf(hasOnednn)('train on onednn', () => {
  beforeAll(async () => {
    expect(await selectBackend('onednn', 2)).toBe('onednn');
  });

  it('learns tubes with native convolutions, and leaves no tensors', async () => {
    const before = tf.memory().numTensors;
    const nativeBefore = onednnCalls.native.get('Conv2DBackpropFilter') ?? 0;
    const { reports, losses, checkpoints } = await run(spec());
    const first = losses.slice(0, 6).reduce((a, b) => a + b) / 6;
    const last = losses.slice(-6).reduce((a, b) => a + b) / 6;
    expect(last).toBeLessThan(first * 0.8);
    expect(reports[2].dice!).toBeGreaterThan(0.4);
    expect(onednnCalls.native.get('Conv2DBackpropFilter')! - nativeBefore).toBeGreaterThanOrEqual(36 * 4);
    expect(decodeCheckpoint(checkpoints[0]).header.backend).toBe('onednn');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('resuming from an epoch checkpoint continues bit for bit', async () => {
    const s = spec({ epochs: 2, stepsPerEpoch: 4, dropout: 0.1 });
    const full = await run(s);
    const resumed = await run(s, full.checkpoints[0]);
    expect(resumed.reports.map((r) => r.epoch)).toEqual([2]);
    const a = params(full.checkpoints[1]);
    const b = params(resumed.checkpoints[0]);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, v] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    expect(resumed.reports[0].trainLoss).toBe(full.reports[1].trainLoss);
  });
});
