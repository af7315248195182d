// Prisma 6 migrates offline only through the JS engine with a driver adapter (see stack notes).
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';

// Prisma's migrate path cannot deserialise some Postgres catalog column types (prisma/prisma#27403),
// so the connection reports them as text; their values already arrive as strings.
const TEXT_OID = 25;
const CATALOG_OIDS = new Set([18 /* "char" */, 19 /* name */, 22 /* int2vector */, 24 /* regproc */, 30 /* oidvector */, 194 /* pg_node_tree */, 1002, 1003, 1028]);

function catalogAsText(res: pg.QueryResult | undefined) {
  for (const f of res?.fields ?? []) if (CATALOG_OIDS.has(f.dataTypeID)) f.dataTypeID = TEXT_OID;
  return res;
}

class CatalogAsTextClient extends pg.Client {
  // pg.Pool calls query with a callback; Prisma's own calls use the promise form.
  query(...args: unknown[]): any {
    const last = args[args.length - 1];
    const call = super.query as (...a: unknown[]) => unknown;
    if (typeof last === 'function') {
      const cb = last as (err: unknown, res?: pg.QueryResult) => void;
      return call.apply(this, [...args.slice(0, -1), (err: unknown, res?: pg.QueryResult) => cb(err, catalogAsText(res))]);
    }
    return (call.apply(this, args) as Promise<pg.QueryResult>).then(catalogAsText);
  }
}

export default defineConfig({
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  experimental: { adapter: true },
  engine: 'js',
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL!, Client: CatalogAsTextClient } as pg.PoolConfig),
});
