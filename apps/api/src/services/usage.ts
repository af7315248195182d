import { Prisma, type PrismaClient } from '@capillary/db';
import type { USAGE_GROUPS } from '@capillary/contracts/api';

export type UsageGroup = (typeof USAGE_GROUPS)[number];

export interface UsageQuery {
  projectId: string;
  by: UsageGroup;
  /** Only attempts started at or after this instant. */
  from?: Date;
  /** Only attempts started before this instant. */
  to?: Date;
  /** The end of attempts still open; a parameter so a caller's clock and the sums agree. */
  now?: Date;
}

export interface UsageSums {
  /** Sum over attempts of (endedAt, or now while open) − startedAt. */
  workerSeconds: number;
  attempts: number;
  /** Attempts that ended with the run handed back to the queue, not ended by it. */
  handOvers: number;
  /** Attempts still open. */
  running: number;
  /** Distinct experiments among the attempts. */
  runs: number;
}

export interface UsageGroupRow extends UsageSums {
  /** The user's, sweep's or dataset's id; null: runs of no user (made before tenancy) or of no sweep. */
  id: string | null;
  name: string | null;
  backends: { backend: string | null; workerSeconds: number; attempts: number }[];
}

// The column each grouping reads; fixed strings only, never caller input.
const KEY: Record<UsageGroup, Prisma.Sql> = {
  user: Prisma.raw('e."createdById"'),
  sweep: Prisma.raw('e."sweepId"'),
  dataset: Prisma.raw('e."datasetId"'),
};

/**
 * The outcomes the registry (packages/registry/src/experiments.ts) writes when an attempt ends
 * without its run ending: a worker's hand-over, a lost worker, an attempt taken over at pickup.
 * A retry after an error and an ASHA pause are not hand-overs: the run itself decided them.
 */
const HAND_OVER = Prisma.sql`(a.outcome LIKE 'handed over:%' OR a.outcome LIKE 'lost:%' OR a.outcome = 'superseded')`;

interface Row {
  key: string | null;
  backend: string | null;
  /** GROUPING bits: 2 set on the total row, 1 set on a group's own row (all backends). */
  level: number;
  seconds: number;
  attempts: number;
  hand_overs: number;
  running: number;
  runs: number;
}

/**
 * What a project's training cost, in worker-seconds from the Attempt rows: every attempt counts,
 * so hand-overs, retries and re-runs of a sweep's cells are in the sums, not only the last one.
 */
export class UsageService {
  constructor(private readonly db: PrismaClient) {}

  async sums(q: UsageQuery): Promise<{ groups: UsageGroupRow[]; total: UsageSums }> {
    const key = KEY[q.by];
    // Attempt times are UTC timestamps without zone (Prisma's DateTime); instants from outside are
    // brought to UTC in SQL so the session's time zone never matters.
    const utc = (d: Date) => Prisma.sql`(${d.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
    const now = utc(q.now ?? new Date());
    const filters = [Prisma.sql`e."projectId" = ${q.projectId}::uuid`];
    if (q.from) filters.push(Prisma.sql`a."startedAt" >= ${utc(q.from)}`);
    if (q.to) filters.push(Prisma.sql`a."startedAt" < ${utc(q.to)}`);
    const rows = await this.db.$queryRaw<Row[]>`
      SELECT ${key}::text AS key, a.backend, GROUPING(${key}, a.backend)::int AS level,
        COALESCE(SUM(EXTRACT(EPOCH FROM (COALESCE(a."endedAt", ${now}) - a."startedAt"))), 0)::float8 AS seconds,
        COUNT(*)::int AS attempts,
        COUNT(*) FILTER (WHERE ${HAND_OVER})::int AS hand_overs,
        COUNT(*) FILTER (WHERE a."endedAt" IS NULL)::int AS running,
        COUNT(DISTINCT a."experimentId")::int AS runs
      FROM "Attempt" a JOIN "Experiment" e ON e.id = a."experimentId"
      WHERE ${Prisma.join(filters, ' AND ')}
      GROUP BY GROUPING SETS ((${key}, a.backend), (${key}), ())`;
    const sums = (r: Row | undefined): UsageSums => ({
      workerSeconds: r?.seconds ?? 0, attempts: r?.attempts ?? 0, handOvers: r?.hand_overs ?? 0, running: r?.running ?? 0, runs: r?.runs ?? 0,
    });
    const names = await this.names(q.by, rows.map((r) => r.key).filter((k): k is string => k !== null));
    const groups = rows.filter((r) => r.level === 1).map((g) => ({
      id: g.key,
      name: g.key === null ? null : (names.get(g.key) ?? null),
      ...sums(g),
      backends: rows.filter((r) => r.level === 0 && r.key === g.key).map((r) => ({ backend: r.backend, workerSeconds: r.seconds, attempts: r.attempts })),
    }));
    groups.sort((a, b) => b.workerSeconds - a.workerSeconds);
    return { groups, total: sums(rows.find((r) => r.level === 3)) };
  }

  private async names(by: UsageGroup, ids: string[]): Promise<Map<string, string>> {
    const where = { id: { in: [...new Set(ids)] } };
    const select = { id: true, name: true } as const;
    const rows = by === 'user' ? await this.db.user.findMany({ where, select })
      : by === 'sweep' ? await this.db.sweep.findMany({ where, select })
        : await this.db.dataset.findMany({ where, select });
    return new Map(rows.map((r) => [r.id, r.name]));
  }
}
