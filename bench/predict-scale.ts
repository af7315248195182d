// A synthetic kidney predicted along three axes with flip TTA through the queue, as a flow of
// shards, by one worker and then by two workers of one thread each: voxels a second, the
// speed-up, peak RSS per worker (its sandboxes included), bytes written to S3, whether the two
// masks are identical, and the host's ceiling for two single-thread processes measured first. `npm run bench -- predict-scale [--shape 64x512x512] [--shards 6]
// [--filters 8] [--levels 3] [--tile 64]`. kidney_5's shape (1012 x 1330 x 1598) needs days of
// this machine's two cores; docs/platform.md extrapolates from what this measures.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { prisma } from '@capillary/db';
import { predictionCost } from '@capillary/engine/planning';
import { ensureBucket, listKeys, objectSize } from '@capillary/storage';
import { importVolume, syntheticSource } from '@capillary/volumes/importers';
import { VolumeRegistry } from '@capillary/registry';
import { stackProfile, stackUp } from '@capillary/devstack';
import { predictionBytes, startApi, spawnWorker, trainedExperiment, waitUntil, type RunningWorker } from '../test/harness.ts';
import { hostLine } from './_host.ts';

const { values: a } = parseArgs({
  options: {
    shape: { type: 'string', default: '64x512x512' },
    shards: { type: 'string', default: '6' },
    filters: { type: 'string', default: '8' },
    levels: { type: 'string', default: '3' },
    tile: { type: 'string', default: '64' },
  },
});
const shape = a.shape.split('x').map(Number) as [number, number, number];
if (shape.length !== 3 || shape.some((n) => !(n > 0))) throw new Error(`--shape: expected ZxYxX, got ${a.shape}`);
const log = (m: string) => console.error(`[predict-scale] ${m}`);
console.log(hostLine());
Object.assign(process.env, await stackUp(stackProfile('bench'), (l) => log(`stack: ${l}`)), { LOG_LEVEL: 'warn' });
await ensureBucket();

const dataset = `predict-scale-${shape.join('x')}`;
const db = prisma();
if (!(await db.dataset.findUnique({ where: { name: dataset } }))) {
  log(`importing a synthetic kidney of ${shape.join(' x ')}`);
  await importVolume(syntheticSource({ shape, seed: 5, name: 'kidney' }), { catalog: new VolumeRegistry(prisma()), dataset, role: 'public_test' });
}
const experimentId = await trainedExperiment(dataset, { tileSize: Number(a.tile), baseFilters: Number(a.filters), depth: Number(a.levels), slices: 3, threshold: 0.1 });
const options = { axes: ['xy', 'xz', 'yz'], tta: true };
const passes = predictionCost(shape, ['xy', 'xz', 'yz'], true);
const shardVoxels = Math.ceil(passes / Number(a.shards));
const api = await startApi();

/** A process's resident MB and its children's, from /proc (sampling must not cost the workers CPU). */
function rssOf(pid: number): number {
  try {
    const own = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return own + kids.reduce((s, k) => s + rssOf(k), 0);
  } catch {
    return 0;
  }
}

async function run(workers: number) {
  const started: RunningWorker[] = Array.from({ length: workers }, (_, i) =>
    spawnWorker({ WORKER_ID: `scale-${workers}-${i}`, LOG_LEVEL: 'info', TFJS_THREADS: '1', PREDICT_SHARD_VOXELS: String(shardVoxels), PREDICT_MAX_SHARDS_IN_FLIGHT: '16' }, ['--unhandled-rejections=strict']));
  const peak = started.map(() => 0);
  const sampler = setInterval(() => started.forEach((w, i) => (peak[i] = Math.max(peak[i], w.process.exitCode === null ? rssOf(w.process.pid!) : 0))), 500);
  try {
    const t0 = performance.now();
    const res = await api.request('POST', `/experiments/${experimentId}/predictions`, { dataset, options });
    if (res.status !== 201) throw new Error(`prediction refused: ${res.status} ${JSON.stringify(res.body)}`);
    const id = res.body.id as string;
    let last = '';
    const row = await waitUntil('the prediction to end', async () => {
      const p = await db.prediction.findUniqueOrThrow({ where: { id } });
      const line = `${p.status}: shards ${Object.keys(p.shards as object).length}/${p.shardsPlanned ?? '?'}`;
      if (line !== last) log(`${workers} worker(s) ${(last = line)} after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      return ['succeeded', 'failed', 'cancelled'].includes(p.status) ? p : undefined;
    }, 24 * 3600_000, 1000);
    const seconds = (performance.now() - t0) / 1000;
    if (row.status !== 'succeeded') throw new Error(`the prediction ended ${row.status}: ${row.errorMessage}`);
    const lines = started.flatMap((w) => w.output).filter((l) => l.includes('"shard committed"'));
    const shardBytes = lines.reduce((s, l) => s + (JSON.parse(l) as { bytes: number }).bytes, 0);
    const outputBytes = (await Promise.all((await listKeys(`predictions/${id}/`)).map((k) => objectSize(k)))).reduce((s: number, n) => s + (n ?? 0), 0);
    const bytes = await predictionBytes(id);
    const handBackLines = started.flatMap((w) => w.output).filter((l) => l.includes('handed the run back'));
    for (const l of handBackLines) log(`hand-back: ${l}`);
    const handBacks = handBackLines.length;
    return { seconds, voxelsPerSecond: (shape[0] * shape[1] * shape[2]) / seconds, shards: lines.length, peakRssMb: peak.map(Math.round), s3Bytes: shardBytes + outputBytes, masks: bytes.masks, handBacks };
  } finally {
    clearInterval(sampler);
    await Promise.all(started.map((w) => w.stop()));
  }
}

/**
 * What two single-thread processes can gain on this host at all: the same forward passes by one
 * process alone and by two side by side (shared cores, caches and memory bandwidth, and the
 * stack's servers beside them). 2 x (alone) / (together); a speed-up above it is out of reach.
 */
async function hostCeiling2(): Promise<number> {
  const passesOf = () => promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '_forward-passes.ts'), '--filters', a.filters, '--levels', a.levels, '--tile', a.tile], { env: { ...process.env, TFJS_THREADS: '1' } })
    .then(({ stdout }) => Number(stdout.trim().split('\n').at(-1)));
  const alone = await passesOf();
  const together = await Promise.all([passesOf(), passesOf()]);
  return (2 * alone) / Math.max(...together);
}

log(`${(passes / 1e6).toFixed(1)} M voxel passes (3 axes, 4 flips), shards of ${(shardVoxels / 1e6).toFixed(2)} M`);
const ceiling = await hostCeiling2();
log(`host ceiling for two single-thread processes: ${ceiling.toFixed(2)}`);
const one = await run(1);
const two = await run(2);
await api.close();
const identical = one.masks.length === two.masks.length && one.masks.every((m, i) => m.equals(two.masks[i]));
for (const [n, r] of [[1, one], [2, two]] as const) {
  console.log(`${n} worker(s) of 1 thread: ${r.seconds.toFixed(1)} s, ${(r.voxelsPerSecond / 1e3).toFixed(1)} k voxels/s, ${r.shards} shards, peak RSS per worker ${r.peakRssMb.join(', ')} MB, ${(r.s3Bytes / 2 ** 20).toFixed(1)} MB written to S3, ${r.handBacks} hand-backs`);
}
console.log(JSON.stringify({
  shape, axes: 3, tta: true, passes, shardVoxels,
  oneWorker: { seconds: +one.seconds.toFixed(1), voxelsPerSecond: Math.round(one.voxelsPerSecond), peakRssMb: one.peakRssMb, s3Bytes: one.s3Bytes },
  twoWorkers: { seconds: +two.seconds.toFixed(1), voxelsPerSecond: Math.round(two.voxelsPerSecond), peakRssMb: two.peakRssMb, s3Bytes: two.s3Bytes },
  hostCeiling2: +ceiling.toFixed(3),
  // The goal (1.8) and the host's own ceiling, as ratios of this run's speed-up.
  speedup2: +(one.seconds / two.seconds).toFixed(3), ofCeiling: +((one.seconds / two.seconds) / ceiling).toFixed(3), identical,
}));
process.exit(0);
