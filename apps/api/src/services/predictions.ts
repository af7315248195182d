import type { Prediction } from '@capillary/db';
import type { EventPublisher, JobQueues } from '@capillary/queue';
import type { PredictionRegistry } from '@capillary/registry';
import { cancelled } from './errors.ts';

/** What the API does to predictions beyond reading them: cancel (a queued one never starts; a running one and its shards stop). */
export class PredictionService {
  constructor(
    private readonly registry: PredictionRegistry,
    private readonly queues: JobQueues,
    private readonly publisher: EventPublisher,
  ) {}

  /**
   * Cancels through the registry, then tells the workers: the cancel message stops the prediction's
   * job and its shards at once on whichever workers hold them; without Redis, their run checks see
   * the cancelled row within RUN_CHECK_INTERVAL_MS. Shards still waiting are refused at pickup.
   */
  async cancel(id: string): Promise<Prediction> {
    const row = await cancelled(`prediction ${id}`, () => this.registry.cancel(id));
    try {
      const job = await this.queues.queue('prediction').getJob(id);
      if (job && (await job.isWaiting())) await job.remove().catch(() => undefined);
      await this.publisher.requestCancel(id);
    } catch {
      // Redis is unreachable: the workers see the cancel in Postgres instead.
    }
    return row;
  }
}
