// The reference of `npm run bench -- dispatch`: a bare BullMQ worker in a process of its own, with
// the same Redis, prefix and lock settings as Capillary's, whose processor does nothing but say it
// started (on a pub/sub channel, as Capillary's worker reports "running") and return.
import { Worker } from 'bullmq';
import { env } from '@capillary/contracts';
import { redisConnection } from '@capillary/queue';
import { benchArgs } from './_args.ts';

const { positionals } = benchArgs({ options: {}, allowPositionals: true });
if (positionals.length !== 2) {
  console.error(`expected <queue> <channel>, got ${positionals.length} arguments`);
  process.exit(2);
}
const [queue, channel] = positionals;
const config = env();
const connection = redisConnection();
const publisher = redisConnection();
const worker = new Worker(queue, async (job) => {
  await publisher.publish(channel, job.id!);
}, { connection, prefix: config.QUEUE_PREFIX, concurrency: 1, lockDuration: config.QUEUE_LOCK_DURATION_MS, stalledInterval: config.QUEUE_STALLED_INTERVAL_MS });
await worker.waitUntilReady();
await publisher.publish(channel, 'ready');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
