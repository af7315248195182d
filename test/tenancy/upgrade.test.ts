// Issue 24, acceptance 6: a database at main's schema (every migration before tenancy), filled
// with datasets, volumes, sweeps, experiments, predictions and API keys, is upgraded by the
// migrations: every row kept, in project `default`, whose admin owns the old keys, which still work.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseEnv } from '@capillary/contracts';
import { createPrisma, prisma, type PrismaClient } from '@capillary/db';
import { REPO_ROOT, tinySpec } from '../harness.ts';

const TENANCY = '20261220000000_tenancy';
const MIGRATIONS = path.join(REPO_ROOT, 'prisma', 'migrations');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** `prisma migrate deploy` of the migrations the config names, on the database at `url`. */
function migrate(config: string, url: string) {
  const r = spawnSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'prisma'), ['migrate', 'deploy', '--config', config], {
    cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`prisma migrate deploy (${config}) failed:\n${r.stdout}\n${r.stderr}`);
}

describe(`upgrading a database at main's schema through ${TENANCY}`, () => {
  const suffix = randomBytes(4).toString('hex');
  const database = `capillary_upgrade_${suffix}`;
  const dir = path.join(REPO_ROOT, '.run', `upgrade-${suffix}`);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${database}`;
  let client: pg.Client;
  let created = false;

  const key1 = `cap_upgrade_${suffix}_one`;
  const key2 = `cap_upgrade_${suffix}_two`;
  const ids = {
    key1: randomUUID(), key2: randomUUID(), dataset: randomUUID(), volume: randomUUID(), sweep: randomUUID(),
    queued: randomUUID(), trial: randomUUID(), lone: randomUUID(), prediction: randomUUID(),
  };
  const datasetName = `upgrade-${suffix}`;

  beforeAll(async () => {
    await prisma().$executeRawUnsafe(`CREATE DATABASE "${database}"`);
    created = true;
    // main's schema: a migrations folder holding only the migrations before tenancy.
    mkdirSync(path.join(dir, 'migrations'), { recursive: true });
    for (const m of readdirSync(MIGRATIONS)) {
      if (m === 'migration_lock.toml' || m < TENANCY) cpSync(path.join(MIGRATIONS, m), path.join(dir, 'migrations', m), { recursive: true });
    }
    const config = path.join(dir, 'prisma.config.ts');
    writeFileSync(config, `import base from ${JSON.stringify(path.join(REPO_ROOT, 'prisma.config.ts'))};\nexport default { ...base, schema: ${JSON.stringify(path.join(REPO_ROOT, 'prisma', 'schema.prisma'))}, migrations: { path: ${JSON.stringify(path.join(dir, 'migrations'))} } };\n`);
    migrate(config, url.toString());
    client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    const [{ tenancy }] = (await client.query(`SELECT to_regclass('"Project"') IS NOT NULL AS tenancy`)).rows;
    if (tenancy) throw new Error('the database is past main\'s schema before the fill: the migrations folder held tenancy');
    const spec = JSON.stringify(tinySpec(datasetName));
    const experiment = `INSERT INTO "Experiment" ("id", "name", "spec", "datasetId", "sweepId", "model", "encoder", "inputMode", "epochs", "lr", "augmentationP", "batchSize", "seed", "status", "apiKeyId", "score", "privateScore", "trialIndex", "updatedAt")
      VALUES ($1, $2, $3, $4, $5, 'unet', 'plain', '2d', 2, 0.003, 0.2, 2, 0, $6, $7, $8, $9, $10, now())`;
    await client.query('INSERT INTO "ApiKey" ("id", "name", "hash", "prefix") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)', [ids.key1, 'old-one', sha256(key1), key1.slice(0, 8), ids.key2, 'old-two', sha256(key2), key2.slice(0, 8)]);
    await client.query('INSERT INTO "Dataset" ("id", "name") VALUES ($1, $2)', [ids.dataset, datasetName]);
    await client.query(`INSERT INTO "Volume" ("id", "datasetId", "name", "role", "imageKey", "dtype", "depth", "height", "width", "voxelSizeUm", "stats", "contentHash")
      VALUES ($1, $2, 'v0', 'train', 'upgrade/none', 'uint8', 4, 8, 8, '{1,1,1}', '{}', 'upgrade')`, [ids.volume, ids.dataset]);
    await client.query(`INSERT INTO "Sweep" ("id", "name", "grid", "strategy") VALUES ($1, 'old sweep', $2, 'grid')`, [ids.sweep, JSON.stringify({ name: 'old sweep', base: tinySpec(datasetName), grid: { seed: [0] } })]);
    await client.query(experiment, [ids.queued, 'queued by key one', spec, ids.dataset, null, 'queued', ids.key1, null, null, null]);
    await client.query(experiment, [ids.trial, 'trial by key two', spec, ids.dataset, ids.sweep, 'succeeded', ids.key2, 0.4, 0.3, 0]);
    await client.query(experiment, [ids.lone, 'lone, no key', spec, ids.dataset, null, 'succeeded', null, 0.5, 0.6, null]);
    await client.query(`INSERT INTO "Prediction" ("id", "experimentId", "datasetName", "status", "outputs") VALUES ($1, $2, $3, 'succeeded', '[]')`, [ids.prediction, ids.lone, datasetName]);
    // Now the whole folder, as an operator upgrading runs it.
    migrate(path.join(REPO_ROOT, 'prisma.config.ts'), url.toString());
  }, 180_000);

  afterAll(async () => {
    await client?.end();
    if (created) await prisma().$executeRawUnsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    rmSync(dir, { recursive: true, force: true });
  });

  const one = async <T>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[];

  it('keeps every row, each in project `default`, and makes `admin` its admin and the owner of the old keys', async () => {
    const idsOf = async (table: string) => (await one<{ id: string }>(`SELECT "id" FROM "${table}" ORDER BY "id"`)).map((r) => r.id);
    expect(await idsOf('ApiKey')).toEqual([ids.key1, ids.key2].sort());
    expect(await idsOf('Dataset')).toEqual([ids.dataset]);
    expect(await idsOf('Volume')).toEqual([ids.volume]);
    expect(await idsOf('Sweep')).toEqual([ids.sweep]);
    expect(await idsOf('Experiment')).toEqual([ids.queued, ids.trial, ids.lone].sort());
    expect(await idsOf('Prediction')).toEqual([ids.prediction]);

    const [project] = await one<{ id: string }>(`SELECT "id" FROM "Project" WHERE "name" = 'default'`);
    const [admin] = await one<{ id: string; operator: boolean }>(`SELECT "id", "operator" FROM "User" WHERE "name" = 'admin'`);
    expect(project && admin).toBeTruthy();
    expect(admin.operator).toBe(true);
    expect(await one(`SELECT "userId", "projectId", "role"::text AS role FROM "Membership"`)).toEqual([{ userId: admin.id, projectId: project.id, role: 'admin' }]);
    for (const table of ['Dataset', 'Sweep', 'Experiment', 'Prediction']) {
      expect(await one(`SELECT DISTINCT "projectId" FROM "${table}"`), table).toEqual([{ projectId: project.id }]);
    }
    expect(await one(`SELECT "id", "userId", "projectId", "scope", "expiresAt" FROM "ApiKey" ORDER BY "id"`)).toEqual(
      [ids.key1, ids.key2].sort().map((id) => ({ id, userId: admin.id, projectId: null, scope: 'write', expiresAt: null })),
    );
    // A run made with a key is the key's user's; one made without stays nobody's.
    const creators = Object.fromEntries((await one<{ id: string; createdById: string | null }>(`SELECT "id", "createdById" FROM "Experiment"`)).map((r) => [r.id, r.createdById]));
    expect(creators).toEqual({ [ids.queued]: admin.id, [ids.trial]: admin.id, [ids.lone]: null });
    expect(await one(`SELECT "createdById" FROM "Sweep"`)).toEqual([{ createdById: admin.id }]);
    // Scores and states came through untouched.
    expect(await one(`SELECT "status"::text AS status, "score", "privateScore", "closedAt" FROM "Experiment" WHERE "id" = $1`, [ids.lone])).toEqual([{ status: 'succeeded', score: 0.5, privateScore: 0.6, closedAt: null }]);
  });

  it('the old keys still work against an API on the upgraded database', async () => {
    const { buildApp } = await import('@capillary/api');
    const db: PrismaClient = createPrisma(url.toString(), { max: 4 });
    const env = parseEnv({ ...process.env, DATABASE_URL: url.toString(), PORT: '0', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000', RECONCILER: 'false' });
    const app = await buildApp({ env, db, logger: false });
    try {
      const as = (key: string) => ({ authorization: `Bearer ${key}` });
      const list = await app.inject({ method: 'GET', url: '/experiments', headers: as(key1) });
      expect(list.statusCode, list.body).toBe(200);
      expect(list.json().items.map((e: { id: string }) => e.id).sort()).toEqual([ids.queued, ids.trial, ids.lone].sort());
      const sweep = await app.inject({ method: 'GET', url: `/sweeps/${ids.sweep}`, headers: as(key2) });
      expect([sweep.statusCode, sweep.json().trials.map((t: { id: string }) => t.id)]).toEqual([200, [ids.trial]]);
      const prediction = await app.inject({ method: 'GET', url: `/predictions/${ids.prediction}`, headers: as(key2) });
      expect(prediction.statusCode).toBe(200);
      const datasets = await app.inject({ method: 'GET', url: '/datasets', headers: as(key1) });
      expect(datasets.body).toContain(datasetName);
      // A write: the old key cancels the run it queued before the upgrade.
      const cancel = await app.inject({ method: 'DELETE', url: `/experiments/${ids.queued}`, headers: as(key1) });
      expect([cancel.statusCode, cancel.json().status]).toEqual([200, 'cancelled']);
      const who = await app.inject({ method: 'GET', url: '/whoami', headers: as(key2) });
      expect(who.statusCode).toBe(200);
      expect(who.body).toContain('admin');
    } finally {
      await app.close();
      await db.$disconnect();
    }
  });
});
