// A picture of everything the stack stores, for tests that assert a request wrote nothing: the row
// count of every Postgres table (found in the catalogue, so a new table is covered without editing
// this file), every Redis key with its type and size, and every S3 object with its size.
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { bucketName, ensureBucket, s3Client } from '@capillary/storage';
import { RATE_LIMIT_PREFIX, RECONCILER_LEADER_KEY, WORKERS_KEY } from '@capillary/queue';

/**
 * Keys that change with time or with every request, whatever a request does: heartbeats,
 * rate-limit counters and the reconciler's lease (it lapses when an earlier API closes).
 */
const VOLATILE_KEYS = [WORKERS_KEY, RATE_LIMIT_PREFIX, RECONCILER_LEADER_KEY];
/** BullMQ's marker of a worker's last stalled-jobs check: it expires by itself, whatever a request did. */
const VOLATILE_SUFFIXES = [':stalled-check'];

export interface StoreSnapshot {
  tables: Record<string, number>;
  redis: string[];
  s3: string[];
}

/** The audit log records every mutating request, refused ones included: by design, not a write of the request's. */
const AUDIT_TABLE = 'AuditEntry';

export async function tableCounts(): Promise<Record<string, number>> {
  const db = prisma();
  const tables = await db.$queryRaw<{ name: string }[]>`
    SELECT table_name::text AS name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT IN ('_prisma_migrations', ${AUDIT_TABLE})
    ORDER BY table_name`;
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await db.$queryRawUnsafe<{ n: bigint | number }[]>(`SELECT count(*) AS n FROM "${name.replace(/"/g, '""')}"`);
    counts[name] = Number(row.n);
  }
  return counts;
}

const SIZE_COMMAND: Record<string, string> = { string: 'strlen', list: 'llen', set: 'scard', zset: 'zcard', hash: 'hlen', stream: 'xlen' };

export async function redisKeys(redis: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch.filter((k) => !VOLATILE_KEYS.some((v) => k.startsWith(v)) && !VOLATILE_SUFFIXES.some((v) => k.endsWith(v))));
  } while (cursor !== '0');
  keys.sort();
  return Promise.all(keys.map(async (k) => {
    const type = await redis.type(k);
    const command = SIZE_COMMAND[type];
    const size = command ? await (redis as unknown as Record<string, (key: string) => Promise<number>>)[command](k) : 0;
    return `${k} ${type} ${size}`;
  }));
}

export async function s3Objects(): Promise<string[]> {
  // A fresh stack may have no bucket yet; an empty one lists as nothing.
  await ensureBucket();
  const out: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3Client().send(new ListObjectsV2Command({ Bucket: bucketName(), ContinuationToken: token }));
    for (const o of res.Contents ?? []) out.push(`${o.Key} ${o.Size}`);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

/** Everything stored, in a form `expect(...).toEqual(...)` compares and prints readably. */
export async function snapshotStores(redis: Redis): Promise<StoreSnapshot> {
  const [tables, keys, s3] = await Promise.all([tableCounts(), redisKeys(redis), s3Objects()]);
  return { tables, redis: keys, s3 };
}
