import { it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './backend.ts';
import { SegmentationModel } from './models/unet.ts';
import { segmentationLoss } from './loss.ts';
import { Adam } from './optimizer.ts';
import { trainStep } from './step.ts';
it('prof', async () => {
  await selectBackend((process.env.BK as never) ?? 'wasm', 2);
  const model = new SegmentationModel({ model: (process.env.MODEL as never) ?? 'unet', encoder: 'plain', inChannels: 1, baseFilters: 16, depth: 4, normalization: 'batch', dropout: 0, seed: 1 });
  const x = tf.randomUniform([4, 256, 256, 1]) as tf.Tensor4D;
  const y = tf.cast(tf.greater(tf.randomUniform([4, 256, 256, 1]), 0.9), 'float32') as tf.Tensor4D;
  const vars = model.params.trainable().map(([, v]) => v);
  const adam = new Adam(model.params.trainable());
  const step = () => trainStep(model, adam, x, y, { loss: 'bce-dice', learningRate: 1e-3, dropoutSeed: 1 });
  void vars; void segmentationLoss;
  await step();
  let t = performance.now();
  let c = process.cpuUsage();
  for (let i = 0; i < 3; i++) await step();
  const cu = process.cpuUsage(c);
  console.log('step ms', ((performance.now() - t) / 3).toFixed(0), 'cpu ms', ((cu.user + cu.system) / 3000).toFixed(0));
  t = performance.now();
  c = process.cpuUsage();
  for (let i = 0; i < 3; i++) { const p = model.predict(x); await p.data(); p.dispose(); }
  const ci = process.cpuUsage(c);
  console.log('infer ms', ((performance.now() - t) / 3).toFixed(0), 'cpu', ((ci.user + ci.system) / 3000).toFixed(0));
  {
    const pr = await tf.profile(async () => { await step(); });
    console.log('peakBytes MB', (pr.peakBytes / 2 ** 20).toFixed(0), 'rss MB', (process.resourceUsage().maxRSS / 1024).toFixed(0), 'wasm heap MB', ((tf.backend() as any).wasm?.HEAPU8?.length / 2 ** 20).toFixed(0));
  }
  if (process.env.PROFILE) {
    const prof = await tf.profile(async () => { await step(); });
    const byKernel = new Map<string, number>();
    for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    console.log([...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([n, ms]) => `${n} ${ms.toFixed(0)}`).join('\n'));
    const top = prof.kernels.filter((k) => /Conv|Mean|Sum|Multiply|SplitV|MaxPoolGrad|Sub/.test(k.name)).map((k) => `${k.name} ${JSON.stringify(k.inputShapes)} ${(k.kernelTimeMs as number).toFixed(1)}`);
    console.log(top.join('\n'));
  }
});
