// A fixed number of forward passes of predict-scale's network on one thread, timed: the host's
// ceiling for N such processes side by side is N x (one alone) / (N together). Run by
// bench/predict-scale.ts as child processes; prints the seconds on its last line.
// `tsx bench/_forward-passes.ts --passes 150 --filters 8 --levels 3 --tile 64`
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, SegmentationModel, tilesPerPass } from '@capillary/engine';

const { values: a } = parseArgs({
  options: {
    passes: { type: 'string', default: '150' },
    filters: { type: 'string', default: '8' },
    levels: { type: 'string', default: '3' },
    tile: { type: 'string', default: '64' },
  },
});
const T = Number(a.tile);
const B = tilesPerPass(T);
await selectBackend((process.env.TFJS_BACKEND ?? 'auto') as never, 1);
const model = new SegmentationModel({ model: 'unet', encoder: 'plain', inChannels: 3, baseFilters: Number(a.filters), depth: Number(a.levels), normalization: 'batch', dropout: 0, seed: 0 });
const x = tf.randomNormal([B, T, T, 3]) as tf.Tensor4D;
const pass = async () => {
  const y = model.predict(x);
  await y.data();
  y.dispose();
};
await pass(); // warm-up: kernels, caches
const t0 = performance.now();
for (let i = 0; i < Number(a.passes); i++) await pass();
console.log(((performance.now() - t0) / 1000).toFixed(3));
