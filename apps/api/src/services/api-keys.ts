import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@capillary/db';

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');
/** `lastUsedAt` is kept to the minute. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** API keys: only a hash is stored; the key is shown once, when created. */
export class ApiKeyService {
  constructor(private readonly db: PrismaClient) {}

  async create(name: string): Promise<{ id: string; key: string }> {
    const key = `cap_${randomBytes(24).toString('base64url')}`;
    const row = await this.db.apiKey.create({ data: { name, hash: hashOf(key), prefix: key.slice(0, 8) } });
    return { id: row.id, key };
  }

  /** The key's row when it is valid and not revoked. */
  async verify(key: string) {
    const row = await this.db.apiKey.findUnique({ where: { hash: hashOf(key) } });
    if (!row || row.revokedAt) return null;
    // Best effort: a failed timestamp update must not fail the request. At most one a minute per
    // key: a write on every request competed with the request's own queries (bench/dispatch.ts).
    if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      this.db.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => {});
    }
    return row;
  }

  async revoke(id: string) {
    return this.db.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
  }

  async list() {
    return this.db.apiKey.findMany({ orderBy: { createdAt: 'asc' }, select: { id: true, name: true, prefix: true, createdAt: true, lastUsedAt: true, revokedAt: true } });
  }
}
