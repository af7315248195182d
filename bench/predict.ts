// Whole-volume prediction against the bare forward passes of the same tiles, in the same run:
// what the prediction path (reads, normalisation, tiling, blending, thresholding) costs on top of
// the network. `npm run bench -- predict [--size 1024] [--depth 6] [--tile 64] [--slices 3] [--tta]`
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, SegmentationModel, predictVolume, tilesPerPass } from '@capillary/engine';
import { MemoryVolume } from '@capillary/volumes';
import { tileStarts } from '@capillary/engine/planning';
import { hostLine } from './_host.ts';

const { values: a } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    depth: { type: 'string', default: '6' },
    tile: { type: 'string', default: '64' },
    slices: { type: 'string', default: '3' },
    filters: { type: 'string', default: '16' },
    levels: { type: 'string', default: '4' },
    batch: { type: 'string' },
    tta: { type: 'boolean', default: false },
    threads: { type: 'string', default: String(process.env.TFJS_THREADS ?? 0) },
  },
});
const S = Number(a.size), D = Number(a.depth), T = Number(a.tile), K = Number(a.slices);
// The prediction path's own batching unless --batch says otherwise; the bare passes use the same.
const B = a.batch ? Number(a.batch) : tilesPerPass(T);
const backend = await selectBackend((process.env.TFJS_BACKEND ?? 'auto') as never, Number(a.threads));
console.log(hostLine());
const model = new SegmentationModel({ model: 'unet', encoder: 'plain', inChannels: K, baseFilters: Number(a.filters), depth: Number(a.levels), normalization: 'batch', dropout: 0, seed: 0 });

// A textured uint16 volume: the network's cost does not depend on the values, the path's barely.
const image = new Uint16Array(D * S * S);
for (let i = 0; i < image.length; i++) image[i] = (i * 2654435761) >>> 20;
const volume = new MemoryVolume('bench', [D, S, S], image);
const o = { axes: ['xy' as const], slices: K, tileSize: T, overlap: 0.25, tta: a.tta, threshold: 0.5, batchSize: a.batch ? B : undefined };

const tiles = tileStarts(S, T, 0.25).length ** 2;
const passes = a.tta ? 4 : 1;
/** The same number of tiles through the network in batches of B, nothing else. */
async function bare(planes: number) {
  const x = tf.randomNormal([B, T, T, K]) as tf.Tensor4D;
  for (let p = 0; p < planes; p++)
    for (let t = 0; t < tiles; t += B) {
      const n = Math.min(B, tiles - t);
      const input = n === B ? x : x.slice([0, 0, 0, 0], [n, T, T, K]);
      for (let f = 0; f < passes; f++) {
        const y = model.predict(input as tf.Tensor4D);
        await y.data();
        y.dispose();
      }
      if (input !== x) input.dispose();
    }
  x.dispose();
}
async function whole() {
  let fg = 0;
  await predictVolume(model, volume, { ...o, onSlice: (_z, m) => void (fg += m[0]) });
}
await bare(1); // warm-up: kernels, caches
await whole();
const time = async (f: () => Promise<void>) => {
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
};
// Alternate, and keep the fastest of each: the host is shared.
let bareS = Infinity, predictS = Infinity;
for (let r = 0; r < 2; r++) {
  bareS = Math.min(bareS, await time(() => bare(D)));
  predictS = Math.min(predictS, await time(whole));
}
const voxels = D * S * S;
console.log(`backend ${backend}; volume ${D} x ${S} x ${S}, tile ${T}, slices ${K}, batch ${B}, tta ${a.tta}: ${tiles} tiles a plane`);
console.log(`bare forward passes: ${bareS.toFixed(2)} s (${(voxels / bareS / 1e6).toFixed(2)} M voxels/s)`);
console.log(`predictVolume:       ${predictS.toFixed(2)} s (${(voxels / predictS / 1e6).toFixed(2)} M voxels/s)`);
console.log(JSON.stringify({ backend, voxelsPerSecond: Math.round(voxels / predictS), bareVoxelsPerSecond: Math.round(voxels / bareS), ratio: +(bareS / predictS).toFixed(3), goal: 0.7, reached: bareS / predictS >= 0.7 }));
