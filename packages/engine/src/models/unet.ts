/**
 * The U-Net family: an encoder (plain, ResNet or ResNeXt), a decoder of 2x2 transposed
 * convolutions and double 3x3 convolutions, optionally with Oktay et al. (2018) attention gates on
 * the skip connections, and a 1x1 head giving one logit per pixel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ParamStore } from '../nn/params.ts';
import { Conv, ConvNormAct, DoubleConv, Dropout, UpConv, type ForwardContext, type Normalization } from '../nn/layers.ts';
import { buildEncoder, type Encoder, type EncoderName } from './encoders.ts';
import type { Predictor } from '../predict.ts';

export type ModelName = 'unet' | 'attention-unet' | 'unet25d';

/** Everything needed to rebuild a network; stored in checkpoints. */
export interface ModelConfig {
  model: ModelName;
  encoder: EncoderName;
  /** Input channels: k neighbouring slices. */
  inChannels: number;
  /**
   * Output slices (k out), centred on the input's centre. Absent means 1: configs (and so the
   * checkpoints that store them) of 1-out networks stay what they were.
   */
  outChannels?: number;
  baseFilters: number;
  /** Resolution levels (depth - 1 poolings). */
  depth: number;
  normalization: Normalization;
  dropout: number;
  seed: number;
}

/**
 * Attention gate: gate g and skip x (same resolution) are projected by 1x1 convolutions with batch
 * norm, summed, passed through ReLU, projected to one channel (1x1 + batch norm), squashed by a
 * sigmoid and used to scale the skip.
 */
class AttentionGate {
  private readonly wg: ConvNormAct;
  private readonly wx: ConvNormAct;
  private readonly psi: ConvNormAct;
  constructor(store: ParamStore, name: string, c: number, norm: Normalization) {
    const inter = Math.max(1, Math.floor(c / 2));
    this.wg = new ConvNormAct(store, `${name}/wg`, 1, c, inter, norm, false);
    this.wx = new ConvNormAct(store, `${name}/wx`, 1, c, inter, norm, false);
    this.psi = new ConvNormAct(store, `${name}/psi`, 1, inter, 1, norm, false);
  }
  apply(g: tf.Tensor4D, x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const a = tf.relu(tf.add(this.wg.apply(g, ctx), this.wx.apply(x, ctx))) as tf.Tensor4D;
    return tf.mul(x, tf.sigmoid(this.psi.apply(a, ctx)));
  }
}

export class SegmentationModel implements Predictor {
  readonly params: ParamStore;
  private readonly encoder: Encoder;
  private readonly ups: UpConv[] = [];
  private readonly gates: Array<AttentionGate | undefined> = [];
  private readonly decoders: DoubleConv[] = [];
  private readonly drops: Dropout[] = [];
  private readonly head: Conv;

  constructor(readonly config: ModelConfig) {
    const c = config;
    if (!Number.isInteger(c.depth) || c.depth < 1) throw new RangeError(`depth must be a positive integer, got ${c.depth}`);
    this.params = new ParamStore(c.seed);
    this.encoder = buildEncoder(this.params, c.encoder, { inChannels: c.inChannels, baseFilters: c.baseFilters, depth: c.depth, normalization: c.normalization });
    const ch = this.encoder.channels;
    this.drops.push(new Dropout(c.dropout, 0));
    for (let i = c.depth - 2; i >= 0; i--) {
      this.ups.push(new UpConv(this.params, `dec${i}/up`, ch[i + 1], ch[i]));
      this.gates.push(c.model === 'attention-unet' ? new AttentionGate(this.params, `dec${i}/gate`, ch[i], c.normalization) : undefined);
      this.decoders.push(new DoubleConv(this.params, `dec${i}/conv`, 2 * ch[i], ch[i], c.normalization));
      this.drops.push(new Dropout(c.dropout, this.drops.length));
    }
    // A foreground prior of about 10 % in the head bias keeps the first steps from predicting all vessel.
    this.head = new Conv(this.params, 'head', 1, ch[0], this.outChannels, { bias: true, biasInit: -2.2 });
  }

  /** Tiles must be divisible by this (one halving per level below the first). */
  get stride(): number {
    return 2 ** (this.config.depth - 1);
  }

  get inChannels(): number {
    return this.config.inChannels;
  }

  get outChannels(): number {
    return this.config.outChannels ?? 1;
  }

  /** Logits [N, H, W, outChannels] for an NHWC input with `inChannels` channels. */
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const [, h, w, k] = x.shape;
    if (k !== this.config.inChannels) throw new RangeError(`model expects ${this.config.inChannels} input channels, got ${k}`);
    if (h % this.stride || w % this.stride) throw new RangeError(`input ${h}x${w} is not divisible by ${this.stride} (depth ${this.config.depth})`);
    const feats = this.encoder.apply(x, ctx);
    let y = this.drops[0].apply(feats[feats.length - 1], ctx);
    this.ups.forEach((up, j) => {
      const i = this.config.depth - 2 - j;
      const u = up.apply(y);
      const gate = this.gates[j];
      const skip = gate ? gate.apply(u, feats[i], ctx) : feats[i];
      y = this.drops[j + 1].apply(this.decoders[j].apply([u, skip], ctx), ctx);
    });
    return this.head.apply(y);
  }

  /** Probabilities [N, H, W, outChannels] in inference mode. */
  predict(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.sigmoid(this.apply(x, { training: false, dropoutSeed: 0 })));
  }

  dispose(): void {
    this.encoder.dispose();
    this.head.dispose();
    this.params.dispose();
  }
}

/** Builds the network an experiment spec asks for. */
export function modelConfigFromSpec(spec: {
  model: ModelName;
  encoder?: EncoderName;
  slices?: number;
  outputSlices?: number;
  baseFilters?: number;
  depth?: number;
  normalization?: Normalization;
  dropout?: number;
  seed?: number;
}): ModelConfig {
  return {
    model: spec.model,
    encoder: spec.encoder ?? 'plain',
    inChannels: spec.slices ?? 1,
    ...(spec.outputSlices && spec.outputSlices > 1 ? { outChannels: spec.outputSlices } : {}),
    baseFilters: spec.baseFilters ?? 8,
    depth: spec.depth ?? 3,
    normalization: spec.normalization ?? 'batch',
    dropout: spec.dropout ?? 0,
    seed: spec.seed ?? 0,
  };
}
