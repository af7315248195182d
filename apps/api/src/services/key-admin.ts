import type { Prisma, PrismaClient } from '@capillary/db';
import type { KeyScope, Principal } from '../auth/policy.ts';
import type { ApiKeyService } from './api-keys.ts';
import { HttpError, badField, notFound } from './errors.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface KeyRequest {
  name: string;
  /** Name of a project of the caller's to limit the key to. */
  project?: string;
  scope?: KeyScope;
  expiresAt?: string;
  expiresInDays?: number;
}

/** What a key may do: the caller may hand out no more than this. */
interface Grant {
  projectId: string | null;
  scope: KeyScope;
  expiresAt: Date | null;
}

const VIEW = {
  id: true, name: true, prefix: true, scope: true, expiresAt: true, createdAt: true, lastUsedAt: true, revokedAt: true,
  user: { select: { name: true } }, project: { select: { name: true } },
} as const;
type KeyRow = Prisma.ApiKeyGetPayload<{ select: typeof VIEW }>;

/** A key as listed: never its hash, only the prefix that identifies it to its owner. */
export const keyView = (k: KeyRow) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  user: k.user.name,
  project: k.project?.name ?? null,
  scope: k.scope === 'read' ? ('read' as const) : ('write' as const),
  expiresAt: k.expiresAt?.toISOString() ?? null,
  createdAt: k.createdAt.toISOString(),
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  revokedAt: k.revokedAt?.toISOString() ?? null,
});

/**
 * Keys as their users and project admins manage them. A key never grants more than the key that
 * made it: not write from read, not every project from one, not a longer life than its own.
 */
export class KeyAdmin {
  constructor(
    private readonly db: PrismaClient,
    private readonly apiKeys: ApiKeyService,
  ) {}

  async create(p: Principal, req: KeyRequest) {
    const userId = signedIn(p);
    if (req.expiresAt !== undefined && req.expiresInDays !== undefined) throw badField('/expiresAt', 'give expiresAt or expiresInDays, not both');
    let expiresAt: Date | null = null;
    if (req.expiresAt !== undefined) {
      expiresAt = new Date(req.expiresAt);
      if (expiresAt.getTime() <= Date.now()) throw badField('/expiresAt', 'must be in the future');
    } else if (req.expiresInDays !== undefined) {
      expiresAt = new Date(Date.now() + req.expiresInDays * DAY_MS);
    }
    let projectId: string | null = null;
    if (req.project !== undefined) {
      projectId = [...p.projectNames].find(([, name]) => name === req.project)?.[0] ?? null;
      // Says nothing about whether the project exists: only that the caller is not in it.
      if (!projectId) throw badField('/project', `you are in no project named ${req.project}`);
    }
    const caller = await this.callerGrant(p);
    if (!projectId && caller.projectId) {
      throw new HttpError(403, `project: this API key is limited to project ${p.projectNames.get(caller.projectId)}; a key it creates must name that project`);
    }
    // Unset scope and expiry are the caller's own: a read key makes read keys, an expiring key
    // keys that expire with it.
    const grant: Grant = { projectId, scope: req.scope ?? p.scope, expiresAt: expiresAt ?? caller.expiresAt };
    checkGrant(caller, grant);
    const { id, key } = await this.apiKeys.create(req.name, { userId, ...grant });
    return { ...keyView(await this.db.apiKey.findUniqueOrThrow({ where: { id }, select: VIEW })), key };
  }

  /** The caller's keys; a key limited to a project sees only its user's keys limited to that project. */
  async own(p: Principal) {
    const rows = await this.db.apiKey.findMany({ where: this.ownWhere(p), orderBy: { createdAt: 'asc' }, select: VIEW });
    return rows.map(keyView);
  }

  async revokeOwn(p: Principal, id: string) {
    return this.revoke(id, this.ownWhere(p));
  }

  /** Revokes one of the caller's keys and issues its replacement: same name, project, scope and expiry. */
  async rotateOwn(p: Principal, id: string) {
    const userId = signedIn(p);
    const old = await this.db.apiKey.findFirst({ where: { id, ...this.ownWhere(p) }, select: { id: true, name: true, projectId: true, scope: true, expiresAt: true, revokedAt: true } });
    if (!old) throw notFound(`key ${id}`);
    if (old.revokedAt) throw new HttpError(409, `key ${id} was revoked; create a new one`);
    if (old.expiresAt && old.expiresAt.getTime() <= Date.now()) throw new HttpError(409, `key ${id} has expired; create a new one`);
    const grant: Grant = { projectId: old.projectId, scope: old.scope === 'read' ? 'read' : 'write', expiresAt: old.expiresAt };
    checkGrant(await this.callerGrant(p), grant);
    // Revoked only if still live: of two rotations at once, one gets a new key and the other a 409.
    const { count } = await this.db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    if (!count) throw new HttpError(409, `key ${id} was revoked; create a new one`);
    const { id: newId, key } = await this.apiKeys.create(old.name, { userId, ...grant });
    return { ...keyView(await this.db.apiKey.findUniqueOrThrow({ where: { id: newId }, select: VIEW })), key, replaces: id };
  }

  /** Keys that act in the project: those limited to it, and its members' unlimited ones. */
  async projectKeys(projectId: string) {
    const rows = await this.db.apiKey.findMany({ where: projectKeysWhere(projectId), orderBy: { createdAt: 'asc' }, select: VIEW });
    return rows.map(keyView);
  }

  async revokeProjectKey(projectId: string, id: string) {
    return this.revoke(id, projectKeysWhere(projectId));
  }

  /** Revokes the key if `scope` covers it (else 404, as for no key); revoking twice keeps the first time. */
  private async revoke(id: string, scope: Prisma.ApiKeyWhereInput) {
    const row = await this.db.apiKey.findFirst({ where: { id, ...scope }, select: { id: true } });
    if (!row) throw notFound(`key ${id}`);
    await this.db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    return keyView(await this.db.apiKey.findUniqueOrThrow({ where: { id }, select: VIEW }));
  }

  private ownWhere(p: Principal): Prisma.ApiKeyWhereInput {
    return { userId: signedIn(p), ...(p.keyProjectId ? { projectId: p.keyProjectId } : {}) };
  }

  /** What the caller itself may do; a session may do all its user may. */
  private async callerGrant(p: Principal): Promise<Grant> {
    if (!p.keyId) return { projectId: null, scope: p.scope, expiresAt: null };
    const key = await this.db.apiKey.findUniqueOrThrow({ where: { id: p.keyId }, select: { expiresAt: true } });
    return { projectId: p.keyProjectId, scope: p.scope, expiresAt: key.expiresAt };
  }
}

function signedIn(p: Principal): string {
  if (!p.userId) throw new HttpError(401, 'authorization: sign in, or send an API key (Authorization: Bearer <key>)');
  return p.userId;
}

const projectKeysWhere = (projectId: string): Prisma.ApiKeyWhereInput => ({
  OR: [{ projectId }, { projectId: null, user: { memberships: { some: { projectId } } } }],
});

/** Refuses a grant beyond the caller's own (403, naming the field). */
function checkGrant(caller: Grant, grant: Grant): void {
  if (caller.scope === 'read' && grant.scope === 'write') throw new HttpError(403, 'scope: a read-only API key cannot create or rotate a write key');
  if (caller.projectId && grant.projectId !== caller.projectId) throw new HttpError(403, 'project: a key limited to one project cannot create or rotate a key of another, or of every project');
  if (caller.expiresAt && (!grant.expiresAt || grant.expiresAt > caller.expiresAt)) {
    throw new HttpError(403, `expiresAt: this API key expires at ${caller.expiresAt.toISOString()}; a key it creates or rotates cannot outlive it`);
  }
}
