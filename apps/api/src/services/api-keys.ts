import { createHash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Prisma, PrismaClient } from '@capillary/db';
import { DEFAULT_PROJECT, type KeyScope, type Principal, type Role } from '../auth/policy.ts';

export { DEFAULT_PROJECT };

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');
/** `lastUsedAt` is kept to the minute. */
const LAST_USED_RESOLUTION_MS = 60_000;
/**
 * How long a key's row (with its user's roles) is reused without asking Postgres again. Looking it
 * up took 4-5 ms a request (bench/api-load.ts `authCost`), over the 1 ms authorisation may add. The
 * price: a key revoked, a user disabled or a role changed on another replica takes effect here
 * within this time; on this replica at once (`forget`).
 */
export const PRINCIPAL_TTL_MS = 5000;

export interface NewKey {
  /** Whose key; unset: a new user of the key's name (or that name with a suffix), admin of `default`. */
  userId?: string;
  /** Limits the key to one project of its user. */
  projectId?: string | null;
  scope?: KeyScope;
  expiresAt?: Date | null;
}

/** Why a presented key is refused: the 401's message. */
export type KeyRefusal = 'unknown' | 'revoked' | 'expired' | 'disabled';

const WITH_ROLES = { user: { include: { memberships: { include: { project: { select: { name: true } } } } } } } as const;
type KeyRow = Prisma.ApiKeyGetPayload<{ include: typeof WITH_ROLES }>;
type UserRow = KeyRow['user'];

/** A principal's projects: its role and the project's name, by project id. */
function projectsOf(memberships: UserRow['memberships']): Pick<Principal, 'roles' | 'projectNames'> {
  return {
    roles: new Map(memberships.map((m) => [m.projectId, m.role as Role])),
    projectNames: new Map(memberships.map((m) => [m.projectId, m.project.name])),
  };
}

/** API keys: only a hash is stored; the key is shown once, when created. */
export class ApiKeyService {
  private readonly keyRows = new LRUCache<string, KeyRow | 'unknown'>({ max: 10_000, ttl: PRINCIPAL_TTL_MS });
  private readonly userRows = new LRUCache<string, UserRow | 'unknown'>({ max: 10_000, ttl: PRINCIPAL_TTL_MS });

  constructor(private readonly db: PrismaClient) {}

  /** Drops what this process remembers of keys and users: after a revoke, a role or user change. */
  forget(): void {
    this.keyRows.clear();
    this.userRows.clear();
  }

  async create(name: string, opts: NewKey = {}): Promise<{ id: string; key: string; userId: string }> {
    const userId = opts.userId ?? (await this.newDefaultAdmin(name));
    const key = `cap_${randomBytes(24).toString('base64url')}`;
    const row = await this.db.apiKey.create({
      data: { name, hash: hashOf(key), prefix: key.slice(0, 8), userId, projectId: opts.projectId ?? null, scope: opts.scope ?? 'write', expiresAt: opts.expiresAt ?? null },
    });
    return { id: row.id, key, userId };
  }

  /** The CLI's `api-key create` on the server: a user who is admin of `default`, as keys were before tenancy. */
  private async newDefaultAdmin(name: string): Promise<string> {
    const project = await this.db.project.upsert({ where: { name: DEFAULT_PROJECT }, update: {}, create: { name: DEFAULT_PROJECT } });
    for (let attempt = 0; ; attempt++) {
      const userName = attempt === 0 ? name : `${name}-${randomBytes(3).toString('hex')}`;
      const taken = await this.db.user.findUnique({ where: { name: userName } });
      if (taken) continue;
      const user = await this.db.user.create({ data: { name: userName, memberships: { create: { projectId: project.id, role: 'admin' } } } });
      return user.id;
    }
  }

  /** The key's principal, or why the key is refused. */
  async principal(key: string): Promise<Principal | KeyRefusal> {
    const hash = hashOf(key);
    let row = this.keyRows.get(hash);
    if (!row) {
      row = (await this.db.apiKey.findUnique({ where: { hash }, include: WITH_ROLES })) ?? 'unknown';
      this.keyRows.set(hash, row);
    }
    if (row === 'unknown') return 'unknown';
    if (row.revokedAt) return 'revoked';
    if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return 'expired';
    if (row.user.disabledAt) return 'disabled';
    // Best effort: a failed timestamp update must not fail the request. At most one a minute per
    // key: a write on every request competed with the request's own queries (bench/dispatch.ts).
    if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      row.lastUsedAt = new Date();
      this.db.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: row.lastUsedAt } }).catch(() => {});
    }
    return {
      via: 'key',
      userId: row.userId,
      userName: row.user.name,
      operator: row.user.operator && !row.projectId,
      keyId: row.id,
      scope: row.scope === 'read' ? 'read' : 'write',
      keyProjectId: row.projectId,
      ...projectsOf(row.user.memberships.filter((m) => !row.projectId || m.projectId === row.projectId)),
    };
  }

  /** A signed-in user's principal (a dashboard session), or null when the user is gone or disabled. */
  async userPrincipal(userId: string): Promise<Principal | null> {
    let user = this.userRows.get(userId);
    if (!user) {
      user = (await this.db.user.findUnique({ where: { id: userId }, include: WITH_ROLES.user.include })) ?? 'unknown';
      this.userRows.set(userId, user);
    }
    if (user === 'unknown' || user.disabledAt) return null;
    return {
      via: 'session',
      userId: user.id,
      userName: user.name,
      operator: user.operator,
      keyId: null,
      scope: 'write',
      keyProjectId: null,
      ...projectsOf(user.memberships),
    };
  }

  async revoke(id: string) {
    const row = await this.db.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
    this.forget();
    return row;
  }

  async list(where: { userId?: string; projectId?: string } = {}) {
    return this.db.apiKey.findMany({
      where,
      orderBy: { createdAt: 'asc' },
      select: { id: true, name: true, prefix: true, userId: true, projectId: true, scope: true, expiresAt: true, createdAt: true, lastUsedAt: true, revokedAt: true },
    });
  }
}
