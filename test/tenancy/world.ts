// Two projects, A and B, each with its users, keys and rows, and an API that records which policy
// action each route performs: the fixtures of the tenancy tests (issue 24).
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { parseEnv } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { putObject } from '@capillary/storage';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { type buildApp, PROJECT_HEADER } from '@capillary/api';
import { tinySpec } from '../harness.ts';

export { PROJECT_HEADER };

export interface Reply {
  status: number;
  /** Parsed JSON, else the text. */
  body: any;
  text: string;
  contentType: string;
}

export interface SendOptions {
  /** Sent as `Authorization: Bearer <key>`; null or unset: no Authorization header. */
  key?: string | null;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface TenancyApi {
  url: string;
  app: Awaited<ReturnType<typeof buildApp>>;
  metricsToken: string;
  /** `METHOD /fastify/:url` -> the `config.action` the route ran with, as the request saw it. */
  actions: Map<string, unknown>;
  send(method: string, path: string, opts?: SendOptions): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * The API as test/harness.ts startApi starts it (no rate limits, no reconciler), with a
 * METRICS_TOKEN, plus a hook that records each route's policy action as its requests see it:
 * Fastify hands a route's config to its requests, not to `findRoute`.
 */
export async function startTenancyApi(overrides: Record<string, string> = {}): Promise<TenancyApi> {
  const { buildApp } = await import('@capillary/api');
  const metricsToken = `metrics-${randomBytes(12).toString('hex')}`;
  const env = parseEnv({
    ...process.env, PORT: '0', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000', VIEWER_RATE_LIMIT_MAX: '100000', VOLUME3D_RATE_LIMIT_MAX: '100000', SSE_RATE_LIMIT_MAX: '100000',
    RECONCILER: 'false', AUTH_READS: 'required', METRICS_TOKEN: metricsToken, ...overrides,
  });
  const app = await buildApp({ env, db: prisma(), logger: false });
  const actions = new Map<string, unknown>();
  (app as FastifyInstance).addHook('onRequest', async (req) => {
    if (req.routeOptions.url) actions.set(`${req.method} ${req.routeOptions.url}`, req.routeOptions.config.action);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    app,
    metricsToken,
    actions,
    close: () => app.close(),
    send: (method, path, opts = {}) => send(url, method, path, opts),
  };
}

/** One request; an event stream is answered by its status and headers, then dropped. */
export async function send(base: string, method: string, path: string, opts: SendOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  let payload: string | undefined;
  if (opts.body !== undefined) {
    payload = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body: payload });
  const contentType = res.headers.get('content-type') ?? '';
  if (contentType.startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, body: undefined, text: '', contentType };
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* CSV, images, HTML */
  }
  return { status: res.status, body, text, contentType };
}

export interface ProjectRows {
  project: { id: string; name: string };
  dataset: { id: string; name: string };
  volumeId: string;
  /** A lone experiment, succeeded, made by the project's creator. */
  experimentId: string;
  sweepId: string;
  /** The sweep's one trial. */
  trialId: string;
  /** A succeeded prediction of the lone experiment, with a submission CSV in S3. */
  predictionId: string;
  /** A webhook endpoint (to a closed loopback port; nothing ends in these worlds to post to it). */
  webhookId: string;
  /** Another, for the probes of `DELETE /webhooks/{id}`: that delete really deletes. */
  spareWebhookId: string;
}

export interface Person {
  userId: string;
  key: string;
}

export interface World {
  tag: string;
  A: ProjectRows;
  B: ProjectRows;
  /** In A: admin, creator (a member who made A's rows), member, viewer. In B: adminB, creatorB (a member who made B's rows). Operator: in no project. */
  people: Record<'admin' | 'creator' | 'member' | 'viewer' | 'adminB' | 'creatorB' | 'operator', Person>;
  /** Keys of A's admin: revoked, expired, and scope `read`. */
  staleKeys: { revoked: string; expired: string; read: string };
}

/** Values no fixture has by chance: private scores are searched for in answers by their digits. */
export const PRIVATE = { lone: 0.7310423, trial: 0.6420517, outputSurfaceDice: 0.8130629, outputDice: 0.8240731 };

async function projectRows(project: { id: string; name: string }, creatorId: string, seed: number): Promise<ProjectRows> {
  const db = prisma();
  const name = `${project.name}-data`;
  // Imported like real data (S3 arrays with labels), so the viewer routes have something to read.
  await seedSyntheticDataset(name, { seed, trainVolumes: 1, validationVolumes: 0, privateTestVolumes: 1, shape: [8, 32, 32] });
  const dataset = await db.dataset.update({ where: { name }, data: { projectId: project.id, createdById: creatorId }, include: { volumes: { orderBy: { name: 'asc' } } } });
  const spec = tinySpec(name);
  const columns = { datasetId: dataset.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 2, lr: 0.003, augmentationP: 0.2, batchSize: 2, seed: 0, projectId: project.id, createdById: creatorId };
  const finished = { status: 'succeeded' as const, finishedAt: new Date(), score: 0.5, validationScore: 0.5, scoreSource: 'public_test' };
  const lone = await db.experiment.create({ data: { ...columns, ...finished, name: `${project.name}-lone`, spec, privateScore: PRIVATE.lone } });
  const sweep = await db.sweep.create({ data: { name: `${project.name}-sweep`, grid: { name: `${project.name}-sweep`, base: spec, grid: { seed: [0] } }, strategy: 'grid', projectId: project.id, createdById: creatorId } });
  const trial = await db.experiment.create({ data: { ...columns, ...finished, name: `${project.name}-trial`, spec, sweepId: sweep.id, trialIndex: 0, score: 0.45, privateScore: PRIVATE.trial } });
  const predictionId = randomUUID();
  const csvKey = `tenancy/${predictionId}/submission.csv`;
  await putObject(csvKey, 'id,rle\nvolume_0000,1 3\n', 'text/csv');
  const [train, privateTest] = dataset.volumes;
  await db.prediction.create({
    data: {
      id: predictionId, experimentId: lone.id, datasetName: name, status: 'succeeded', finishedAt: new Date(), csvKey, projectId: project.id, createdById: creatorId,
      outputs: [
        { volume: train.name, volumeId: train.id, role: 'train', maskKey: 'tenancy/none', shape: [8, 32, 32], surfaceDice: 0.5, dice: 0.5, foregroundVoxels: 10 },
        { volume: privateTest.name, volumeId: privateTest.id, role: 'private_test', maskKey: 'tenancy/none', shape: [8, 32, 32], surfaceDice: PRIVATE.outputSurfaceDice, dice: PRIVATE.outputDice, foregroundVoxels: 10 },
      ],
    },
  });
  const endpoint = () => db.webhookEndpoint.create({ data: { projectId: project.id, url: 'http://127.0.0.1:9/tenancy', secret: `whsec_${project.name}`, events: ['sweep.finished'], createdById: creatorId } });
  const [webhook, spare] = [await endpoint(), await endpoint()];
  return { project, dataset: { id: dataset.id, name }, volumeId: train.id, experimentId: lone.id, sweepId: sweep.id, trialId: trial.id, predictionId, webhookId: webhook.id, spareWebhookId: spare.id };
}

/**
 * Projects `<tag>-project-a` and `<tag>-project-b` with their people (straight in the database, keys through the
 * API's key service) and rows: each test file gets its own, so none disturbs another's.
 */
export async function buildWorld(api: TenancyApi, label: string): Promise<World> {
  const db = prisma();
  const tag = `t-${label}-${randomBytes(4).toString('hex')}`;
  const A = await db.project.create({ data: { name: `${tag}-project-a` } });
  const B = await db.project.create({ data: { name: `${tag}-project-b` } });
  const person = async (who: string, memberships: { projectId: string; role: 'viewer' | 'member' | 'admin' }[], operator = false): Promise<Person> => {
    const user = await db.user.create({ data: { name: `${tag}-user-${who}`, operator, memberships: { create: memberships } } });
    const { key } = await api.app.apiKeys.create(`${tag}-${who}`, { userId: user.id });
    return { userId: user.id, key };
  };
  const people = {
    admin: await person('admin', [{ projectId: A.id, role: 'admin' }]),
    creator: await person('creator', [{ projectId: A.id, role: 'member' }]),
    member: await person('member', [{ projectId: A.id, role: 'member' }]),
    viewer: await person('viewer', [{ projectId: A.id, role: 'viewer' }]),
    adminB: await person('admin-b', [{ projectId: B.id, role: 'admin' }]),
    creatorB: await person('creator-b', [{ projectId: B.id, role: 'member' }]),
    operator: await person('operator', [], true),
  };
  const keys = api.app.apiKeys;
  const revoked = await keys.create(`${tag}-revoked`, { userId: people.admin.userId });
  await keys.revoke(revoked.id);
  const expired = await keys.create(`${tag}-expired`, { userId: people.admin.userId, expiresAt: new Date(Date.now() - 60_000) });
  const read = await keys.create(`${tag}-read`, { userId: people.admin.userId, scope: 'read' });
  const seed = Math.floor(Math.random() * 1e6);
  return {
    tag,
    A: await projectRows({ id: A.id, name: A.name }, people.creator.userId, seed),
    B: await projectRows({ id: B.id, name: B.name }, people.creatorB.userId, seed + 1),
    people,
    staleKeys: { revoked: revoked.key, expired: expired.key, read: read.key },
  };
}

/** Every id and name of a project's rows: what must never appear in another project's answers. */
export function idsOf(rows: ProjectRows): string[] {
  return [rows.project.name, rows.dataset.id, rows.dataset.name, rows.volumeId, rows.experimentId, rows.sweepId, rows.trialId, rows.predictionId, rows.webhookId, rows.spareWebhookId];
}
