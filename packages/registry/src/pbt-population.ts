// A PBT sweep's exploit/explore step, as written under the sweep's row lock (see
// SweepRegistry.advancePbt). Synchronous on purpose: a decision waits until every live member
// paused at the interval epoch, so each one ranks the whole population (as bench pbt measures it)
// and the donors' newest checkpoints are all of that epoch. The cost is that a slow member holds
// the others at the interval; a member that fails or is cancelled leaves the population.
import { createHash } from 'node:crypto';
import type { ExperimentSpec, SweepSpec } from '@capillary/contracts';
import type { Prisma } from '@capillary/db';
import { decidePbt, type PbtExploit, type PbtMember } from '@capillary/search';
import { copiedCheckpointKey, getObject, putObject } from '@capillary/storage';
import { columnsOf, moveWhere, type RequeuedRow, type Tx } from './row-locks.ts';
import { runnableStatus } from './sweep-cap.ts';
import { isTerminal } from './transitions.ts';

export interface PbtStep {
  /** Members put back in the queue for their next interval; their jobs are added after the commit. */
  requeued: RequeuedRow[];
  /** Objects of the checkpoints the copies replaced, to delete after the commit. */
  droppedKeys: string[];
  /** The epoch decided at, when a decision was made. */
  epoch?: number;
}

/** A decision that could not be applied whole: the transaction rolls back and the next pass decides again. */
export class PbtRaceError extends Error {}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * When every live member waits paused at the same interval epoch T: the bottom members copy a top
 * member's checkpoint of T (a checkpoint row of their own, naming where it came from, and a
 * lineage row) and take its hyperparameters perturbed (`decidePbt`); then every member goes back
 * to queued, pausing again at T + interval (or running to the end). Otherwise nothing. Idempotent:
 * after a decision no member is paused at T any more.
 */
export async function decidePbtStep(tx: Tx, sweepId: string, request: SweepSpec, cap?: number | null): Promise<PbtStep> {
  const rows = await tx.experiment.findMany({
    where: { sweepId },
    select: { id: true, status: true, pauseAtEpoch: true, trialIndex: true, spec: true, queuePriority: true, createdById: true, priority: true },
  });
  const live = rows.filter((r) => !isTerminal(r.status));
  if (!live.length || live.some((r) => r.status !== 'paused' || r.pauseAtEpoch === null)) return { requeued: [], droppedKeys: [] };
  const epoch = Math.min(...live.map((r) => r.pauseAtEpoch!));
  const atEpoch = live.filter((r) => r.pauseAtEpoch === epoch);
  const metrics = await tx.epochMetric.findMany({ where: { experimentId: { in: atEpoch.map((r) => r.id) }, epoch }, select: { experimentId: true, surfaceDice: true, dice: true, createdAt: true } });
  const metricOf = new Map(metrics.map((m) => [m.experimentId, m]));
  // The order they reached the interval (committed its epoch) decides ties and the draws' order.
  const arrived = [...atEpoch].sort((a, b) =>
    (metricOf.get(a.id)?.createdAt.getTime() ?? Infinity) - (metricOf.get(b.id)?.createdAt.getTime() ?? Infinity) || (a.trialIndex ?? 0) - (b.trialIndex ?? 0));
  const fields = Object.keys(request.space ?? {});
  const paramsOf = (spec: unknown) => Object.fromEntries(fields.map((f) => [f, (spec as Record<string, unknown>)[f]]));
  const members: PbtMember[] = arrived.map((r) => {
    const m = metricOf.get(r.id);
    return { index: r.trialIndex ?? 0, score: m ? (m.surfaceDice ?? m.dice) : null, params: paramsOf(r.spec) };
  });
  const byIndex = new Map(arrived.map((r) => [r.trialIndex ?? 0, r]));

  const next = epoch + request.pbt!.perturbationInterval;
  const pauseAtEpoch = next < request.base.epochs! ? next : null;
  const newSpecs = new Map<string, ExperimentSpec>();
  const droppedKeys: string[] = [];
  for (const exploit of decidePbt(request, epoch, members)) {
    const member = byIndex.get(exploit.member)!;
    const donor = byIndex.get(exploit.donor)!;
    const dropped = await copyCheckpoint(tx, sweepId, member.id, donor.id, epoch, exploit, paramsOf(member.spec));
    if (dropped === undefined) continue;
    if (dropped) droppedKeys.push(dropped);
    newSpecs.set(member.id, { ...(member.spec as ExperimentSpec), ...exploit.params } as ExperimentSpec);
  }

  // Under a cap (`maxConcurrent`) the members wait held and are released in turn; a held member
  // is live and not paused, so the next decision waits for it as for any member still training.
  const to = runnableStatus(cap);
  const requeued: RequeuedRow[] = [];
  for (const r of arrived) {
    const spec = newSpecs.get(r.id);
    const data = { pauseAtEpoch, workerId: null, ...(spec ? { spec: spec as unknown as Prisma.InputJsonValue, ...columnsOf(spec) } : {}) };
    if (!(await moveWhere(tx, r.id, 'paused', to, data, { pauseAtEpoch: epoch }))) throw new PbtRaceError(`member ${r.id} left paused during the decision`);
    if (to === 'queued') requeued.push({ id: r.id, spec: spec ?? r.spec, queuePriority: r.queuePriority, createdById: r.createdById, priority: r.priority });
  }
  return { requeued, droppedKeys, epoch };
}

/**
 * The member's checkpoint of `epoch` becomes a copy of the donor's (object first, then the row:
 * a rolled-back decision leaves an orphan object, never a row without one). Returns the replaced
 * checkpoint's key ('' when the member had none), or undefined when the donor has no readable
 * checkpoint of `epoch`: that member then goes on as it was.
 */
async function copyCheckpoint(tx: Tx, sweepId: string, memberId: string, donorId: string, epoch: number, exploit: PbtExploit, before: Record<string, unknown>): Promise<string | undefined> {
  const from = await tx.checkpoint.findUnique({ where: { experimentId_epoch: { experimentId: donorId, epoch } } });
  const bytes = from && (await getObject(from.s3Key));
  if (!from || !bytes || sha256(bytes) !== from.sha256) return undefined;
  const s3Key = copiedCheckpointKey(memberId, epoch, donorId);
  await putObject(s3Key, bytes, 'application/octet-stream');
  const own = await tx.checkpoint.findUnique({ where: { experimentId_epoch: { experimentId: memberId, epoch } } });
  if (own) await tx.checkpoint.delete({ where: { id: own.id } });
  await tx.checkpoint.create({
    data: {
      experimentId: memberId, epoch, attemptNumber: own?.attemptNumber ?? 0, s3Key, bytes: from.bytes, sha256: from.sha256,
      // The member's epoch `epoch` is the donor's from now on, best flag included (retention keeps it).
      isBest: own?.isBest ?? false, copiedFromExperimentId: donorId, copiedFromEpoch: epoch,
    },
  });
  await tx.pbtExploit.create({
    data: { sweepId, experimentId: memberId, epoch, fromExperimentId: donorId, fromEpoch: epoch, before: before as Prisma.InputJsonValue, after: exploit.params as Prisma.InputJsonValue },
  });
  return own && own.s3Key !== s3Key ? own.s3Key : '';
}
