// Which queued trials no live worker can hold: workers pack trials by estimated step memory and
// never take one larger than their whole capacity, so such a trial would otherwise wait silently.
import { stepMemoryMB, type CostFields, type WorkerHeartbeat } from '@capillary/contracts';
import type { UnfittableTrial } from '@capillary/contracts/api';
import type { PrismaClient } from '@capillary/db';

/** Trials listed by name in the answer; the rest are only counted. */
export const UNFITTABLE_LISTED = 100;

const mb = (n: number) => (n >= 10 ? `${Math.round(n).toLocaleString('en-US')} MB` : `${n.toFixed(2)} MB`);

/** The largest capacity among the workers that publish one (training workers); null when none does. */
export function largestCapacityMB(workers: Pick<WorkerHeartbeat, 'memoryMB'>[]): number | null {
  const sizes = workers.map((w) => w.memoryMB).filter((m): m is number => typeof m === 'number');
  return sizes.length ? Math.max(...sizes) : null;
}

/**
 * The project's queued trials whose estimated step memory exceeds `largestMB`, oldest first.
 * Reads only the spec fields the estimate needs, so a long queue costs little on every poll.
 */
export async function unfittableTrials(db: PrismaClient, projectId: string, largestMB: number): Promise<{ listed: UnfittableTrial[]; total: number }> {
  const rows = await db.$queryRaw<Array<{ id: string; name: string | null; fields: CostFields }>>`
    SELECT "id", "name", jsonb_build_object(
      'tileSize', "spec"->'tileSize', 'batchSize', "spec"->'batchSize', 'baseFilters', "spec"->'baseFilters',
      'depth', "spec"->'depth', 'slices', "spec"->'slices', 'model', "spec"->'model', 'encoder', "spec"->'encoder') AS "fields"
    FROM "Experiment"
    WHERE "projectId" = ${projectId}::uuid AND "status" = 'queued'
    ORDER BY "createdAt" ASC, "id" ASC`;
  const too = rows
    .map((r) => ({ ...r, estimatedMB: stepMemoryMB(r.fields) }))
    // A spec too old to carry every field gives NaN: it is not judged rather than judged wrongly.
    .filter((r) => Number.isFinite(r.estimatedMB) && r.estimatedMB > largestMB);
  return {
    total: too.length,
    listed: too.slice(0, UNFITTABLE_LISTED).map((r) => ({
      id: r.id,
      name: r.name,
      estimatedMB: r.estimatedMB,
      message: `fits no live worker: one training step needs an estimated ${mb(r.estimatedMB)}, the largest worker packs ${mb(largestMB)} (WORKER_MEMORY_MB); it stays queued for a worker that large`,
    })),
  };
}
