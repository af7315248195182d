// The webhook outbox: deliveries are written in the very transaction that ends an experiment or
// finishes a sweep, so an event is recorded exactly when it happened, and queued after the commit
// (by the registry's `WebhookDispatch`, else by the reconciler). docs/platform.md, "Webhooks".
import { randomUUID } from 'node:crypto';
import type { SweepSpec, WebhookBody, WebhookEvent } from '@capillary/contracts';
import type { Prisma, PrismaClient } from '@capillary/db';
import type { JobQueues } from '@capillary/queue';
import { withinEnqueueTimeout } from './enqueue-timeout.ts';
import type { Tx } from './row-locks.ts';
import { WebhookRegistry } from './webhook-registry.ts';
import { isTerminal, type RunStatus } from './transitions.ts';

/** Queues the jobs of deliveries just committed. Never throws: a delivery left without its job is the reconciler's. */
export type WebhookDispatch = (deliveryIds: string[]) => void;

/** A dispatch that adds one `webhook` job per delivery (job id = delivery id), giving up on a Redis that does not answer. */
export function webhookDispatch(queues: JobQueues, log?: { warn(o: object, m: string): void }): WebhookDispatch {
  return (ids) => {
    for (const id of ids) {
      void withinEnqueueTimeout(queueDelivery(queues, id)).catch((e) =>
        log?.warn({ err: (e as Error).message, deliveryId: id }, 'could not queue a webhook delivery; the reconciler will'),
      );
    }
  };
}

export const queueDelivery = (queues: JobQueues, deliveryId: string) => queues.enqueue('webhook', { deliveryId }, deliveryId);

/**
 * The reconciler's half of the outbox: a pending delivery older than `graceMs` with no job
 * (queueing failed after the commit, or its process died first) gets one; a job that ended while
 * its delivery is still pending (it lost its process mid-try) is replaced. Job id = delivery id,
 * so repeating is harmless. Returns how many were queued.
 */
export async function requeueLostDeliveries(db: PrismaClient, queues: JobQueues, graceMs: number): Promise<number> {
  let queued = 0;
  for (const { id } of await new WebhookRegistry(db).pendingOlderThan(graceMs)) {
    const job = await queues.queue('webhook').getJob(id);
    const state = job ? await job.getState() : 'missing';
    if (state === 'completed' || state === 'failed') await job!.remove();
    else if (state !== 'missing' && state !== 'unknown') continue; // waiting, delayed or active: in hand
    await queueDelivery(queues, id);
    queued++;
  }
  return queued;
}

interface PendingEvent {
  type: WebhookEvent;
  subjectId: string;
  /** the keys that created the subject: an endpoint limited to a key hears only of its runs */
  apiKeyIds: (string | null)[];
  data: WebhookBody['data'];
}

const EXPERIMENT_VIEW = {
  id: true, name: true, status: true, sweepId: true, score: true, scoreSource: true, bestEpoch: true, errorMessage: true, finishedAt: true,
  projectId: true, apiKeyId: true, dataset: { select: { name: true } },
} as const;

/**
 * The outbox writes owed now that experiment `id` moved to `status` (terminal), inside the
 * transaction that moved it: `experiment.succeeded|failed`, then `sweep.finished` when this was the
 * sweep's last unfinished trial. Returns the delivery ids to queue after the commit.
 */
export async function recordRunEnded(tx: Tx, id: string, status: RunStatus): Promise<string[]> {
  const row = await tx.experiment.findUniqueOrThrow({ where: { id }, select: EXPERIMENT_VIEW });
  // Most projects have no endpoint: then nothing is locked or written.
  if (!(await tx.webhookEndpoint.count({ where: { projectId: row.projectId } }))) return [];
  const events: PendingEvent[] = [];
  if (status === 'succeeded' || status === 'failed') {
    const { projectId: _p, apiKeyId, dataset, finishedAt, ...rest } = row;
    events.push({
      type: `experiment.${status}`, subjectId: id, apiKeyIds: [apiKeyId],
      data: { experiment: { ...rest, dataset: dataset.name, finishedAt: finishedAt?.toISOString() ?? null } },
    });
  }
  if (row.sweepId) {
    const finished = await sweepFinished(tx, row.sweepId);
    if (finished) events.push(finished);
  }
  return writeDeliveries(tx, row.projectId, events);
}

/** The outbox write of `sweep.finished` when decisions (ASHA stops) ended a sweep's last trials. */
export async function recordSweepDecided(tx: Tx, sweepId: string): Promise<string[]> {
  const sweep = await tx.sweep.findUnique({ where: { id: sweepId }, select: { projectId: true } });
  if (!sweep || !(await tx.webhookEndpoint.count({ where: { projectId: sweep.projectId } }))) return [];
  const finished = await sweepFinished(tx, sweepId);
  return finished ? writeDeliveries(tx, sweep.projectId, [finished]) : [];
}

/**
 * `sweep.finished` if every trial of the sweep has ended (a TPE sweep: and it holds all its
 * trials). The trial's transaction takes the sweep's finishing lock first and reads the trials
 * after it: of trials ending at once, the last to commit is the one that sees them all ended, so
 * exactly one transaction records the event. A re-run or an extension that later ends again
 * finishes the sweep again. The lock is an advisory lock, not the sweep's row lock, and is taken
 * after every row lock of the transaction, so it can join no deadlock with ASHA's decisions
 * (which hold the sweep row while they move trials).
 */
async function sweepFinished(tx: Tx, sweepId: string): Promise<PendingEvent | null> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`capillary:sweep-finish:${sweepId}`}, 0))`;
  const sweep = await tx.sweep.findUnique({ where: { id: sweepId }, select: { id: true, name: true, strategy: true, grid: true } });
  if (!sweep) return null;
  const trials = await tx.experiment.findMany({ where: { sweepId }, select: { id: true, status: true, score: true, apiKeyId: true } });
  if (!trials.length || trials.some((t) => !isTerminal(t.status))) return null;
  // A TPE sweep writes its trials as others finish: ended trials may still be owed more.
  if (sweep.strategy === 'tpe' && trials.length < ((sweep.grid as SweepSpec).trials ?? 0)) return null;
  const outcomes: Record<string, number> = {};
  for (const t of trials) outcomes[t.status] = (outcomes[t.status] ?? 0) + 1;
  const best = trials.filter((t) => t.status === 'succeeded' && t.score !== null).sort((a, b) => b.score! - a.score!)[0];
  return {
    type: 'sweep.finished', subjectId: sweepId, apiKeyIds: [...new Set(trials.map((t) => t.apiKeyId))],
    data: { sweep: { id: sweep.id, name: sweep.name, strategy: sweep.strategy, trials: trials.length, outcomes, best: best ? { experimentId: best.id, score: best.score! } : null } },
  };
}

/**
 * One delivery per event and subscribed endpoint, in event order. Each endpoint's advisory lock
 * is held to the commit, taken in id order (no deadlock among writers), so per endpoint the
 * deliveries' `seq` follows the order their events committed: delivering by `seq` delivers in
 * the order things happened.
 */
async function writeDeliveries(tx: Tx, projectId: string, events: PendingEvent[]): Promise<string[]> {
  if (!events.length) return [];
  const endpoints = await tx.webhookEndpoint.findMany({ where: { projectId }, select: { id: true, events: true, apiKeyId: true }, orderBy: { id: 'asc' } });
  const targets = events.map((e) => endpoints.filter((ep) => ep.events.includes(e.type) && (ep.apiKeyId === null || e.apiKeyIds.includes(ep.apiKeyId))));
  const involved = [...new Set(targets.flat().map((ep) => ep.id))].sort();
  if (!involved.length) return [];
  for (const endpointId of involved) await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`capillary:webhook:${endpointId}`}, 0))`;
  const project = await tx.project.findUniqueOrThrow({ where: { id: projectId }, select: { name: true } });
  const ids: string[] = [];
  for (const [i, e] of events.entries()) {
    if (!targets[i].length) continue;
    const eventId = randomUUID();
    const body: WebhookBody = { id: eventId, type: e.type, createdAt: new Date().toISOString(), project: project.name, data: e.data };
    for (const ep of targets[i]) {
      const d = await tx.webhookDelivery.create({
        data: { endpointId: ep.id, eventId, event: e.type, subjectId: e.subjectId, payload: body as unknown as Prisma.InputJsonValue },
        select: { id: true },
      });
      ids.push(d.id);
    }
  }
  return ids;
}
