import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { useStackEnv } from '@capillary/devstack';

/**
 * Predicts every volume of a dataset with an experiment's best checkpoint, here in this process
 * (the API's `POST /experiments/:id/predictions` queues the same work for a worker). The process
 * holds the prediction as a worker does: with a fenced attempt and a heartbeat.
 */
export function register(program: Command) {
  program
    .command('predict')
    .description("predict every volume of a dataset with an experiment's best checkpoint; masks go to the volume store, a submission CSV to S3")
    .requiredOption('--experiment <id>', 'experiment whose best checkpoint predicts')
    .requiredOption('--dataset <name>', 'dataset to predict (labelled or not)')
    .option('--axes <list>', 'planes to predict along and average, e.g. xy,xz,yz (default: the spec\'s)')
    .option('--tta', 'average over flips')
    .option('--threshold <x>', 'probability threshold (default: the spec\'s)')
    .option('--min-component <voxels>', 'remove 3D components smaller than this')
    .option('--positive-fraction <x>', 'percentile threshold: make this share of each volume\'s voxels positive (instead of --threshold)')
    .option('--predict-scale <x>', 'resample each volume by this factor before prediction and the mask back after it')
    .option('--pseudo-labels <dataset>', 'densify the sparse volumes (labelDensity < 1) and register the result as this new dataset')
    .action(async (opts: {
      experiment: string; dataset: string; axes?: string; tta?: boolean; threshold?: string; minComponent?: string;
      positiveFraction?: string; predictScale?: string; pseudoLabels?: string;
    }) => {
      useStackEnv();
      const { env, PredictionOptions, Validator } = await import('@capillary/contracts');
      const { HeartbeatWriter, redisConnection, whenReady } = await import('@capillary/queue');
      const raw: Record<string, unknown> = { tta: !!opts.tta };
      if (opts.axes) raw.axes = opts.axes.split(',').map((a) => a.trim());
      if (opts.threshold !== undefined) raw.threshold = Number(opts.threshold);
      if (opts.minComponent !== undefined) raw.minComponentVoxels = Number(opts.minComponent);
      if (opts.positiveFraction !== undefined) raw.positiveFraction = Number(opts.positiveFraction);
      if (opts.predictScale !== undefined) raw.predictScale = Number(opts.predictScale);
      if (opts.pseudoLabels !== undefined) raw.pseudoLabelDataset = opts.pseudoLabels;
      const options = new Validator('prediction options', PredictionOptions).parse(raw);
      const { prisma, disconnectPrisma } = await import('@capillary/db');
      const { PredictionRegistry } = await import('@capillary/registry');
      const { runPrediction } = await import('@capillary/worker');
      const db = prisma();
      const predictions = new PredictionRegistry(db);
      const experiment = await db.experiment.findUnique({ where: { id: opts.experiment } }).catch(() => null);
      if (!experiment) throw new Error(`--experiment: no experiment ${opts.experiment}`);
      if (!(await db.dataset.findUnique({ where: { name: opts.dataset } }))) throw new Error(`--dataset: no dataset named "${opts.dataset}"`);
      if (options.pseudoLabelDataset) {
        const { checkPseudoLabelTarget } = await import('@capillary/api');
        await checkPseudoLabelTarget(db, opts.dataset, options.pseudoLabelDataset, '--pseudo-labels');
      }
      const id = randomUUID();
      const holder = `cli-${os.hostname()}-${process.pid}`;
      // This process is the prediction's worker, and beats like one: the reconciler hands a running
      // row that no live beat lists to the queue, and a worker would compute it a second time.
      const redis = redisConnection(undefined, { failFast: true });
      // The first beat must land before the prediction is opened: a reconciler pass in between would
      // take it for lost.
      await whenReady(redis, 10_000).catch((e: Error) => {
        redis.disconnect();
        throw new Error(`REDIS_URL: ${e.message}; the prediction needs Redis for its heartbeat`);
      });
      const heartbeat = new HeartbeatWriter(redis, () => ({ id: holder, backend: 'cli', concurrency: 1, running: [id], pid: process.pid, host: os.hostname() }), env().HEARTBEAT_INTERVAL_MS);
      await heartbeat.start();
      const bar = new cliProgress.SingleBar({ format: 'predict {volume} [{bar}] {value}/{total} slices', stream: process.stderr }, cliProgress.Presets.shades_classic);
      let current = '';
      try {
        // Recorded like a queued prediction, and opened at once by this process.
        await predictions.create({ id, experimentId: experiment.id, datasetName: opts.dataset, options, projectId: experiment.projectId });
        const { fence } = await predictions.open(id, holder);
        try {
          const { outputs, csvKey } = await runPrediction(db, id, fence.attempt, {
            onProgress: (p) => {
              if (p.volume !== current) {
                if (current) bar.stop();
                current = p.volume;
                bar.start(p.slices, 0, { volume: p.volume });
              }
              bar.update(p.slice, { volume: p.volume });
            },
          });
          bar.stop();
          await predictions.succeed(fence, outputs, csvKey);
          console.log(JSON.stringify({ predictionId: id, csvKey, outputs }, null, 2));
        } catch (e) {
          bar.stop();
          await predictions.fail(fence, (e as Error).message, true);
          throw e;
        }
      } finally {
        await heartbeat.stop();
        redis.disconnect();
        await disconnectPrisma();
      }
    });
}
