import { activeTraceparent } from '@capillary/telemetry';
import type { Prisma, PrismaClient, Prediction } from '@capillary/db';
import type { PredictionOutput } from '@capillary/contracts';
import { FencedError, NotRunnableError, TransitionError } from './errors.ts';
import { fenceVerdict as verdict, fromStates, type RunStatus } from './transitions.ts';
import { registerPseudoLabelDataset } from './pseudo-labels.ts';

type Tx = Prisma.TransactionClient;

/** The attempt a worker (or the CLI) holds on a prediction. */
export interface PredictionFence {
  predictionId: string;
  attempt: number;
}

/**
 * The only writer of prediction rows, with the same guarded transitions and fencing as
 * experiments: a prediction handed to another worker can never be finished by the first one.
 */
export class PredictionRegistry {
  constructor(private readonly db: PrismaClient) {}

  async create(row: { id: string; experimentId: string; datasetName: string; options: Prisma.InputJsonValue; projectId?: string; createdById?: string | null }): Promise<Prediction> {
    return this.db.prediction.create({ data: { ...row, traceparent: activeTraceparent() } });
  }

  async discard(id: string): Promise<void> {
    await this.db.prediction.deleteMany({ where: { id, status: 'queued', attempts: 0 } });
  }

  /** queued|running -> running under a new attempt number; refuses an ended or missing one. */
  async open(predictionId: string, workerId: string): Promise<{ fence: PredictionFence; prediction: Prediction }> {
    return this.db.$transaction(async (tx) => {
      const row = await lockPrediction(tx, predictionId);
      if (!row) throw new NotRunnableError('prediction', predictionId, 'missing');
      if (row.status === 'cancelled') throw new NotRunnableError('prediction', predictionId, 'cancelled');
      if (row.status !== 'queued' && row.status !== 'running') throw new NotRunnableError('prediction', predictionId, 'ended');
      const attempt = row.attempts + 1;
      const prediction = await tx.prediction.update({
        where: { id: predictionId },
        data: { status: 'running', attempts: attempt, workerId, startedAt: row.startedAt ?? new Date(), errorMessage: null, shards: {}, shardsPlanned: null },
      });
      return { fence: { predictionId, attempt }, prediction };
    });
  }

  /**
   * The attempt that fanned shards out, taken up again when its job comes back from waiting on
   * them (on this worker or another): no new attempt, so the shards it committed stay its own.
   */
  async resume(fence: PredictionFence, workerId: string): Promise<Prediction> {
    return this.fenced(fence, (tx) => tx.prediction.update({ where: { id: fence.predictionId }, data: { workerId } }));
  }

  /** Records how many shards the attempt fans out (the prediction page's progress). */
  async planShards(fence: PredictionFence, planned: number): Promise<void> {
    await this.fenced(fence, (tx) => tx.prediction.update({ where: { id: fence.predictionId }, data: { shardsPlanned: planned } }));
  }

  /** Records a shard's stored probabilities for the attempt that planned it; a later attempt fences it off. */
  async commitShard(fence: PredictionFence, shard: string, key: string): Promise<void> {
    await this.fenced(fence, async (tx) => {
      const row = await tx.prediction.findUniqueOrThrow({ where: { id: fence.predictionId }, select: { shards: true } });
      await tx.prediction.update({ where: { id: fence.predictionId }, data: { shards: { ...(row.shards as Record<string, string>), [shard]: key } } });
    });
  }

  /** The shards committed under `fence`'s attempt: shard -> key. */
  async committedShards(fence: PredictionFence): Promise<Record<string, string>> {
    const row = await this.db.prediction.findUniqueOrThrow({ where: { id: fence.predictionId }, select: { shards: true, attempts: true } });
    return row.attempts === fence.attempt ? (row.shards as Record<string, string>) : {};
  }

  async check(fence: PredictionFence): Promise<'ok' | FencedError['reason']> {
    const row = await this.db.prediction.findUnique({ where: { id: fence.predictionId }, select: { status: true, attempts: true } });
    return verdict(row, fence.attempt);
  }

  /**
   * Records the outputs. A pseudo-label prediction (`options.pseudoLabelDataset`) registers its
   * dataset of dense labels in the same transaction: the dataset exists exactly when the
   * prediction succeeded, and a fenced-off attempt registers nothing.
   */
  async succeed(fence: PredictionFence, outputs: PredictionOutput[], csvKey: string): Promise<Prediction> {
    return this.fenced(fence, async (tx) => {
      const row = await tx.prediction.findUniqueOrThrow({ where: { id: fence.predictionId }, select: { options: true, datasetName: true } });
      const name = (row.options as { pseudoLabelDataset?: string } | null)?.pseudoLabelDataset;
      if (name) await registerPseudoLabelDataset(tx, { name, sourceDataset: row.datasetName, predictionId: fence.predictionId, outputs });
      return tx.prediction.update({
        where: { id: fence.predictionId },
        data: { status: 'succeeded', outputs: outputs as unknown as Prisma.InputJsonValue, csvKey, finishedAt: new Date() },
      });
    });
  }

  async fail(fence: PredictionFence, message: string, final: boolean): Promise<void> {
    await this.fenced(fence, (tx) =>
      tx.prediction.update({
        where: { id: fence.predictionId },
        data: final ? { status: 'failed', errorMessage: message.slice(0, 4000), finishedAt: new Date() } : { status: 'queued', workerId: null, errorMessage: message.slice(0, 4000) },
      }),
    );
  }

  async handOver(fence: PredictionFence): Promise<void> {
    await this.fenced(fence, (tx) => tx.prediction.update({ where: { id: fence.predictionId }, data: { status: 'queued', workerId: null } }));
  }

  async requeueLost(id: string, attempt: number): Promise<boolean> {
    const { count } = await this.db.prediction.updateMany({ where: { id, status: 'running', attempts: attempt }, data: { status: 'queued', workerId: null } });
    return count === 1;
  }

  async failForGood(id: string, message: string): Promise<Prediction | null> {
    return this.db.$transaction(async (tx) => {
      const row = await lockPrediction(tx, id);
      if (!row || !fromStates('failed').includes(row.status)) return null;
      return tx.prediction.update({ where: { id }, data: { status: 'failed', errorMessage: message.slice(0, 4000), finishedAt: new Date() } });
    });
  }

  async cancel(id: string): Promise<Prediction> {
    return this.db.$transaction(async (tx) => {
      const row = await lockPrediction(tx, id);
      if (!row) throw new NotRunnableError('prediction', id, 'missing');
      if (!fromStates('cancelled').includes(row.status)) throw new TransitionError('prediction', id, row.status, 'cancelled');
      return tx.prediction.update({ where: { id }, data: { status: 'cancelled', finishedAt: new Date(), errorMessage: 'cancelled by request' } });
    });
  }

  private async fenced<T>(fence: PredictionFence, write: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.$transaction(async (tx) => {
      const v = verdict(await lockPrediction(tx, fence.predictionId), fence.attempt);
      if (v !== 'ok') throw new FencedError('prediction', fence.predictionId, fence.attempt, v);
      return write(tx);
    });
  }
}

async function lockPrediction(tx: Tx, id: string) {
  const rows = await tx.$queryRaw<{ status: RunStatus; attempts: number; startedAt: Date | null }[]>`
    SELECT status, attempts, "startedAt" FROM "Prediction" WHERE id = ${id}::uuid FOR UPDATE`;
  return rows[0] ?? null;
}
