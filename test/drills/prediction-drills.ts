// Fault drills of sharded predictions: a worker SIGKILLed in the middle of a shard, and a Redis
// restart while the flow runs. The prediction must end with the mask of an undisturbed run, every
// shard committed exactly once, and no process crashed.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOBS } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { queuePrefix } from '@capillary/queue';
import { startService, stopService } from '@capillary/devstack';
import { predictionBytes, trainedExperiment, waitUntil, type RunningApi } from '../harness.ts';
import { drillApi, DrillWorkers, outage, sandboxesOf, type DrillContext, type DrillTally } from './kit.ts';

const OPTIONS = { axes: ['xy', 'xz', 'yz'], tta: true };
/** Shards of three to six planes of the drill dataset's 16 x 48 x 48 volumes (9 a volume), a few seconds each. */
const SHARD_VOXELS = String(48 * 48 * 4 * 6);

async function runPrediction(api: RunningApi, experimentId: string, dataset: string): Promise<string> {
  const res = await api.request('POST', `/experiments/${experimentId}/predictions`, { dataset, options: OPTIONS });
  if (res.status !== 201) throw new Error(`prediction refused: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

async function ended(id: string, timeoutMs: number) {
  return waitUntil('the prediction to end', async () => {
    const row = await prisma().prediction.findUniqueOrThrow({ where: { id } });
    return ['succeeded', 'failed', 'cancelled'].includes(row.status) ? row : undefined;
  }, timeoutMs, 500).catch(() => null);
}

/** Shard ids each worker log line says it committed, counted. */
function commits(lines: string[], predictionId: string): Map<string, number> {
  const n = new Map<string, number>();
  for (const l of lines) {
    if (!l.includes('"shard committed"') || !l.includes(predictionId)) continue;
    const { shard } = JSON.parse(l) as { shard: string };
    n.set(shard, (n.get(shard) ?? 0) + 1);
  }
  return n;
}

/**
 * The reference prediction on one worker, then the same prediction as a flow of shards on two
 * workers, disturbed by `strike` once some shards are done; compared byte for byte.
 */
function shardDrill(strike: (ctx: DrillContext, workers: DrillWorkers, predictionId: string) => Promise<void>) {
  return async (ctx: DrillContext): Promise<DrillTally> => {
    const api = await drillApi();
    const workers = new DrillWorkers();
    const violations: string[] = [];
    try {
      const experimentId = await trainedExperiment(ctx.dataset, { threshold: 0.1 });
      const solo = workers.start(`drill-solo-${Date.now()}`, { PREDICT_SHARD_VOXELS: String(2 ** 40) });
      const referenceId = await runPrediction(api, experimentId, ctx.dataset);
      const reference = await ended(referenceId, 300_000);
      await workers.terminate(solo);
      if (reference?.status !== 'succeeded') throw new Error(`the reference prediction ended ${reference?.status ?? 'never'}: ${reference?.errorMessage}`);
      const env = { PREDICT_SHARD_VOXELS: SHARD_VOXELS, PREDICT_MAX_SHARDS_IN_FLIGHT: '4' };
      workers.start('drill-shard-a', env);
      workers.start('drill-shard-b', env);
      const id = await runPrediction(api, experimentId, ctx.dataset);
      await waitUntil('two shards committed', async () => (Object.keys((await prisma().prediction.findUniqueOrThrow({ where: { id } })).shards as object).length >= 2 ? true : undefined), 300_000, 200);
      await strike(ctx, workers, id);
      const row = await ended(id, 600_000);
      if (row?.status !== 'succeeded') violations.push(`the sharded prediction ended ${row?.status ?? 'never'}: ${row?.errorMessage ?? ''}`);
      else {
        const [want, got] = await Promise.all([predictionBytes(referenceId), predictionBytes(id)]);
        if (!got.masks.every((m, i) => m.equals(want.masks[i])) || got.masks.length !== want.masks.length) violations.push('the masks differ from the undisturbed prediction\'s');
        if (!got.csv.equals(want.csv)) violations.push('the CSV differs from the undisturbed prediction\'s');
        if (JSON.stringify(got.outputs.map((o) => [o.surfaceDice, o.dice])) !== JSON.stringify(want.outputs.map((o) => [o.surfaceDice, o.dice]))) violations.push('the scores differ');
      }
      const counted = commits(workers.all.flatMap((w) => w.output), id);
      const planned = Object.keys((await prisma().prediction.findUniqueOrThrow({ where: { id } })).shards as object);
      const twice = [...counted].filter(([, n]) => n > 1).map(([s]) => s);
      const lost = planned.filter((s) => !counted.has(s));
      if (twice.length) violations.push(`shards committed more than once: ${twice.join(', ')}`);
      if (lost.length) violations.push(`shards recorded without a commit: ${lost.join(', ')}`);
      ctx.log(`sharded prediction: ${planned.length} shards, ${[...counted.values()].reduce((a, b) => a + b, 0)} commits`);
      return { experiments: 1, lost: row?.status === 'succeeded' ? 0 : 1, duplicatedEpochs: twice.length, stuck: row ? 0 : 1, workerCrashes: workers.crashes(), violations };
    } finally {
      for (const report of workers.crashOutput()) console.error(`[drill] ${report}`);
      await workers.stopAll();
      await api.close();
    }
  };
}

/** SIGKILL of the worker holding a shard mid-way: stalled-job recovery gives the shard to another worker. */
export const shardKilled = shardDrill(async (ctx, workers, predictionId) => {
  const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
  const shards = new Queue(JOBS.predictionShard.queue, { connection: redis, prefix: queuePrefix() });
  try {
    const victim = await waitUntil('a shard under way on worker a', async () => {
      const active = (await shards.getActive()).filter((j) => j.data.predictionId === predictionId && typeof j.progress === 'object');
      const a = workers.byId('drill-shard-a')!;
      return active.length && sandboxesOf(a.process.pid!).length ? a : undefined;
    }, 120_000, 100);
    ctx.log('SIGKILL worker a mid-shard; worker c takes its place');
    workers.terminateHard(victim);
    workers.start('drill-shard-c', { PREDICT_SHARD_VOXELS: SHARD_VOXELS, PREDICT_MAX_SHARDS_IN_FLIGHT: '4' });
  } finally {
    await shards.close();
    redis.disconnect();
  }
});

/** Redis stopped (data kept) for a few seconds while shards run and the prediction's job waits on them. */
export const shardRedisRestart = shardDrill(async (ctx) => {
  ctx.log('redis down for 5 s during the flow');
  await stopService(ctx.profile, 'redis');
  await outage(5_000);
  await startService(ctx.profile, 'redis');
});
