import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, SegmentationModel, trainStep, Adam } from './packages/engine/src/index.ts';
await selectBackend('onednn', 2);
const x = tf.randomUniform([4, 256, 256, 1]) as tf.Tensor4D;
const y = tf.cast(tf.greater(tf.randomUniform([4, 256, 256, 1]), 0.9), 'float32') as tf.Tensor4D;
const model = new SegmentationModel({ model: 'unet', encoder: 'plain', inChannels: 1, baseFilters: 16, depth: 4, normalization: 'batch', dropout: 0, seed: 0 });
const adam = new Adam(model.params.trainable());
for (let i = 0; i < 3; i++) { const t = performance.now(); await trainStep(model, adam, x, y, { loss: 'bce-dice', learningRate: 1e-3, dropoutSeed: 0 }); console.error('step', performance.now() - t); }
process.exit(0);
