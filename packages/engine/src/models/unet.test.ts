import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend.ts';
import { Adam } from '../optimizer.ts';
import { trainStep } from '../step.ts';
import { SegmentationModel, type ModelConfig } from './unet.ts';
import { resnextGroups } from './encoders.ts';

const base: ModelConfig = { model: 'unet', encoder: 'plain', inChannels: 1, baseFilters: 4, depth: 3, normalization: 'batch', dropout: 0, seed: 7 };

/** A fixed batch where the label is a thresholded smooth function of the input. */
function batch(k: number): [tf.Tensor4D, tf.Tensor4D] {
  return tf.tidy(() => {
    const x = tf.add(tf.mul(tf.sin(tf.mul(tf.range(0, 2 * 16 * 16 * k), 0.37)), 0.5), 0.5).reshape([2, 16, 16, k]) as tf.Tensor4D;
    const y = tf.cast(tf.greater(tf.slice(x, [0, 0, 0, (k - 1) / 2], [2, 16, 16, 1]), 0.7), 'float32') as tf.Tensor4D;
    return [x, y];
  });
}

const variants: Array<Partial<ModelConfig>> = [
  {},
  { model: 'attention-unet' },
  { model: 'unet25d', inChannels: 5, encoder: 'resnet' },
  { model: 'unet25d', inChannels: 3, encoder: 'resnext50' },
  { model: 'unet25d', inChannels: 3, encoder: 'resnext101', depth: 4 },
  { model: 'attention-unet', normalization: 'none', dropout: 0.2 },
  // The seed team's unfinished step: a 2.5D ResNeXt U-Net with attention gates, here 3 in, 3 out.
  { model: 'attention-unet', inChannels: 3, encoder: 'resnext50', outChannels: 3 },
  { model: 'attention-unet', encoder: 'resnet' },
];

/** The loss a variant trains with: k-out variants train the winners' weighted loss on 3D cubes. */
const lossOf = (c: ModelConfig) => ((c.outChannels ?? 1) > 1 ? { focal: 1, dice: 1, boundary: 0.01, surfaceDice: 1 } : ('bce-dice' as const));

describe('segmentation models', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });

  for (const v of variants) {
    const cfg = { ...base, ...v };
    it(`${cfg.model}/${cfg.encoder} (k=${cfg.inChannels}${cfg.outChannels ? `, ${cfg.outChannels} out` : ''}, depth ${cfg.depth}, norm ${cfg.normalization}) fits a fixed batch`, async () => {
      const before = tf.memory().numTensors;
      const model = new SegmentationModel(cfg);
      const adam = new Adam(model.params.trainable());
      const [x, y1] = batch(cfg.inChannels);
      const m = cfg.outChannels ?? 1;
      // k out: the labels of the m centre slices (here the thresholded input channels).
      const y = m === 1 ? y1 : (tf.tidy(() => tf.cast(tf.greater(tf.slice(x, [0, 0, 0, (cfg.inChannels - m) / 2], [2, 16, 16, m]), 0.7), 'float32')) as tf.Tensor4D);
      if (m > 1) y1.dispose();
      const out = model.predict(x);
      expect(out.shape).toEqual([2, 16, 16, m]);
      out.dispose();
      const losses: number[] = [];
      for (let i = 0; i < 12; i++) losses.push(await trainStep(model, adam, x, y, { loss: lossOf(cfg), learningRate: 0.01, dropoutSeed: i }));
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(Math.min(...losses.slice(-3))).toBeLessThan(losses[0]);
      tf.dispose([x, y]);
      adam.dispose();
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('attention gates and deeper encoders add parameters; the same seed gives the same weights', () => {
    const count = (c: Partial<ModelConfig>) => {
      const m = new SegmentationModel({ ...base, depth: 4, ...c });
      const n = m.params.countTrainable();
      const names = m.params.entries().map(([name]) => name);
      m.dispose();
      return { n, names };
    };
    const plain = count({});
    const att = count({ model: 'attention-unet' });
    expect(att.n).toBeGreaterThan(plain.n);
    expect(att.names.some((n) => n.includes('/gate/psi'))).toBe(true);
    const attResnext = count({ model: 'attention-unet', encoder: 'resnext50' });
    expect(attResnext.n).toBeGreaterThan(count({ encoder: 'resnext50' }).n);
    expect(attResnext.names.some((n) => n.includes('/gate/psi'))).toBe(true);
    expect(count({ encoder: 'resnext101' }).n).toBeGreaterThan(count({ encoder: 'resnext50' }).n);
    const a = new SegmentationModel(base);
    const b = new SegmentationModel(base);
    const c = new SegmentationModel({ ...base, seed: 8 });
    const w = (m: SegmentationModel) => Array.from(m.params.get('enc0/1/conv/w').dataSync());
    expect(w(a)).toEqual(w(b));
    expect(w(a)).not.toEqual(w(c));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('ResNeXt cardinality divides the width', () => {
    for (const width of [2, 4, 6, 8, 12, 64, 128, 256]) {
      const g = resnextGroups(width);
      expect(width % g).toBe(0);
      expect(g).toBeLessThanOrEqual(32);
    }
    expect(resnextGroups(128)).toBe(32);
  });

  it('rejects inputs the network cannot take', () => {
    const m = new SegmentationModel(base);
    expect(() => m.predict(tf.zeros([1, 18, 16, 1]) as tf.Tensor4D)).toThrow(/not divisible by 4/);
    expect(() => m.predict(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D)).toThrow(/expects 1 input channels/);
    m.dispose();
  });
});
