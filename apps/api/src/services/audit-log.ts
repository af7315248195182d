import type { Prisma, PrismaClient } from '@capillary/db';

export interface AuditQuery {
  limit: number;
  /** Entries older than this id (the `nextBefore` of the previous page). */
  before?: string;
  action?: string;
  /** A user's name. */
  user?: string;
  /** Only this project's entries; unset: every entry (operators). */
  projectId?: string;
}

/** Reads the append-only AuditEntry table (written by plugins/app/audit.ts), newest first. */
export class AuditLog {
  constructor(private readonly db: PrismaClient) {}

  async list(q: AuditQuery) {
    const where: Prisma.AuditEntryWhereInput = {
      ...(q.projectId ? { projectId: q.projectId } : {}),
      ...(q.before ? { id: { lt: BigInt(q.before) } } : {}),
      ...(q.action ? { action: q.action } : {}),
    };
    if (q.user !== undefined) {
      const user = await this.db.user.findUnique({ where: { name: q.user }, select: { id: true } });
      if (!user) return { items: [], nextBefore: null };
      where.userId = user.id;
    }
    const rows = await this.db.auditEntry.findMany({ where, orderBy: { id: 'desc' }, take: q.limit });
    // Entries keep ids, not names (append-only: a rename must not rewrite history); names are looked up per page.
    const [users, projects] = await Promise.all([
      this.db.user.findMany({ where: { id: { in: unique(rows.map((r) => r.userId)) } }, select: { id: true, name: true } }),
      this.db.project.findMany({ where: { id: { in: unique(rows.map((r) => r.projectId)) } }, select: { id: true, name: true } }),
    ]);
    const userName = new Map(users.map((u) => [u.id, u.name]));
    const projectName = new Map(projects.map((p) => [p.id, p.name]));
    const items = rows.map((r) => ({
      id: r.id.toString(),
      at: r.at.toISOString(),
      user: r.userId ? (userName.get(r.userId) ?? r.userId) : null,
      apiKeyId: r.apiKeyId,
      via: r.via,
      method: r.method,
      route: r.route,
      action: r.action,
      resourceId: r.resourceId,
      project: r.projectId ? (projectName.get(r.projectId) ?? r.projectId) : null,
      statusCode: r.statusCode,
      ip: r.ip,
    }));
    return { items, nextBefore: rows.length === q.limit ? items[items.length - 1].id : null };
  }
}

const unique = (ids: Array<string | null>) => [...new Set(ids.filter((id): id is string => id !== null))];
