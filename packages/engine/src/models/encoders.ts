/**
 * U-Net encoders. Each returns one feature map per level, level i at 1/2^i resolution with
 * `channels(i)` channels; the last one is the bottleneck. Downsampling is a 2x2 max-pool at the start
 * of every level after the first, so all convolutions are stride 1 (their gradients are the fast
 * ones on wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from '../nn/params.ts';
import { ConvNormAct, DoubleConv, maxPool2, type ForwardContext, type Normalization } from '../nn/layers.ts';

export type EncoderName = 'plain' | 'resnet' | 'resnext50' | 'resnext101';

export interface EncoderOptions {
  inChannels: number;
  baseFilters: number;
  depth: number;
  normalization: Normalization;
}

export interface Encoder {
  readonly channels: number[];
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D[];
  dispose(): void;
}

export const levelChannels = (base: number, depth: number) => Array.from({ length: depth }, (_, i) => base * 2 ** i);

/** Two 3x3 convolutions per level: the original U-Net encoder. */
class PlainEncoder implements Encoder {
  readonly channels: number[];
  private readonly blocks: DoubleConv[];
  constructor(store: ParamStore, o: EncoderOptions) {
    this.channels = levelChannels(o.baseFilters, o.depth);
    this.blocks = this.channels.map((c, i) => new DoubleConv(store, `enc${i}`, i === 0 ? o.inChannels : this.channels[i - 1], c, o.normalization));
  }
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D[] {
    const out: tf.Tensor4D[] = [];
    let h = x;
    this.blocks.forEach((b, i) => {
      h = b.apply(i === 0 ? h : maxPool2(h), ctx);
      out.push(h);
    });
    return out;
  }
  dispose(): void {}
}

/** A residual unit: basic (two 3x3) or ResNeXt bottleneck (1x1, grouped 3x3, 1x1). */
class ResidualUnit {
  private readonly convs: ConvNormAct[];
  private readonly shortcut?: ConvNormAct;
  constructor(store: ParamStore, name: string, cin: number, cout: number, norm: Normalization, kind: 'basic' | 'bottleneck') {
    if (kind === 'basic') {
      this.convs = [new ConvNormAct(store, `${name}/a`, 3, cin, cout, norm), new ConvNormAct(store, `${name}/b`, 3, cout, cout, norm, false, { gammaInit: 0 })];
    } else {
      const width = Math.max(2, cout / 2);
      const groups = resnextGroups(width);
      this.convs = [
        new ConvNormAct(store, `${name}/reduce`, 1, cin, width, norm),
        new ConvNormAct(store, `${name}/grouped`, 3, width, width, norm, true, { groups }),
        // Zero-initialised last gamma: each unit starts as the identity, which trains deep stacks stably.
        new ConvNormAct(store, `${name}/expand`, 1, width, cout, norm, false, { gammaInit: 0 }),
      ];
    }
    if (cin !== cout) this.shortcut = new ConvNormAct(store, `${name}/proj`, 1, cin, cout, norm, false);
  }
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    let y = x;
    for (const c of this.convs) y = c.apply(y, ctx);
    const s = this.shortcut ? this.shortcut.apply(x, ctx) : x;
    return tf.relu(tf.add(y, s)) as tf.Tensor4D;
  }
  dispose(): void {
    for (const c of this.convs) c.dispose();
    this.shortcut?.dispose();
  }
}

/** Cardinality of a ResNeXt grouped convolution: 32 groups where the width allows, at least 2 channels each. */
export function resnextGroups(width: number): number {
  let g = Math.min(32, Math.max(1, Math.floor(width / 2)));
  while (width % g) g--;
  return g;
}

/** Units per level: level 0 is a stem, levels 1.. follow the ResNet/ResNeXt stage depths. */
const STAGES: Record<Exclude<EncoderName, 'plain'>, number[]> = {
  resnet: [2, 2, 2, 2],
  resnext50: [3, 4, 6, 3],
  resnext101: [3, 4, 23, 3],
};

class ResidualEncoder implements Encoder {
  readonly channels: number[];
  private readonly stem: ConvNormAct;
  private readonly levels: ResidualUnit[][];
  constructor(store: ParamStore, o: EncoderOptions, name: Exclude<EncoderName, 'plain'>) {
    this.channels = levelChannels(o.baseFilters, o.depth);
    const kind = name === 'resnet' ? 'basic' : 'bottleneck';
    const stages = STAGES[name];
    this.stem = new ConvNormAct(store, 'stem', 3, o.inChannels, this.channels[0], o.normalization);
    this.levels = this.channels.map((c, i) => {
      // Level 0 keeps one unit at full resolution; deeper levels map onto the stages (the last stage repeats for depth > 5).
      const units = i === 0 ? 1 : stages[Math.min(i - 1, stages.length - 1)];
      return Array.from({ length: units }, (_, u) => new ResidualUnit(store, `enc${i}/unit${u}`, u === 0 ? (i === 0 ? c : this.channels[i - 1]) : c, c, o.normalization, kind));
    });
  }
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D[] {
    const out: tf.Tensor4D[] = [];
    let h = this.stem.apply(x, ctx);
    this.levels.forEach((units, i) => {
      if (i > 0) h = maxPool2(h);
      for (const u of units) h = u.apply(h, ctx);
      out.push(h);
    });
    return out;
  }
  dispose(): void {
    this.stem.dispose();
    for (const l of this.levels) for (const u of l) u.dispose();
  }
}

export function buildEncoder(store: ParamStore, name: EncoderName, o: EncoderOptions): Encoder {
  return name === 'plain' ? new PlainEncoder(store, o) : new ResidualEncoder(store, o, name);
}
