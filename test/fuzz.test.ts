// Acceptance 1: thousands of malformed and boundary requests, generated from the routes' TypeBox
// schemas, across every route, with and without an API key. No answer is a 5xx, every 4xx names
// the field at fault, and afterwards every table, Redis key and S3 object is as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { startApi, tinySpec, type RunningApi } from './harness.ts';
import { snapshotStores } from './snapshot.ts';
import { mutations, valid, type Mutation } from './fuzz/schema-arbitrary.ts';
import { ROUTES, type RouteSpec } from './fuzz/routes.ts';

const DATASET = 'fuzz-fixture';
/** Requests per route with request schemas to vary, and per route without any (health, lists, static files). */
const PER_ROUTE = 120;
const PER_PLAIN_ROUTE = 30;
const CONCURRENCY = 8;
const SEED = 20261201;
/** Longer strings cannot travel in a URL (Node answers 431 itself); bodies get the huge ones. */
const MAX_URL_VALUE = 1000;

type Part = 'params' | 'querystring' | 'body' | 'headers';
type Auth = 'key' | 'none' | 'forged';

interface Case {
  route: RouteSpec;
  params: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
  raw?: { text: string; contentType: string };
  headers: Record<string, string>;
  auth: Auth;
  /** What the 4xx message must contain; undefined for requests that may succeed. */
  expect?: string;
  what: string;
}

interface Fixtures {
  experimentId: string;
  checkpointedId: string;
  cancelledId: string;
  sweepId: string;
  predictionId: string;
  volumeId: string;
  idempotencyKey: string;
}

const isValid = (schema: TSchema, value: unknown, convert: boolean) => {
  try {
    const v = convert ? Value.Convert(schema, structuredClone(value)) : structuredClone(value);
    return Value.Check(schema, Value.Default(schema, v));
  } catch {
    return false;
  }
};

/** URL parts travel as text: what the route receives is the stringified value. */
const asText = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
const textRecord = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => [k, asText(v)]));

function url(c: Case): string {
  let path = c.route.path.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(asText(c.params[k])));
  if (c.query) {
    const q = new URLSearchParams(textRecord(c.query)).toString();
    if (q) path += `?${q}`;
  }
  return path;
}

function caseArbitrary(route: RouteSpec, fx: Fixtures, keyFor: Record<Auth, string | null>): fc.Arbitrary<Case> {
  const idValues = route.streams || route.writes ? fc.uuid() : fc.oneof(fc.uuid(), fc.constantFrom(fx.experimentId, fx.checkpointedId, fx.sweepId, fx.predictionId, fx.volumeId));
  const validPart = (part: Part): fc.Arbitrary<Record<string, unknown> | unknown> => {
    const schema = route[part]!;
    if (part === 'params' && (schema as { properties: Record<string, unknown> }).properties.id) {
      return fc.tuple(valid(schema), idValues).map(([p, id]) => ({ ...(p as object), id }));
    }
    if (part === 'params' && (schema as { properties: Record<string, unknown> }).properties.name) {
      return fc.oneof(valid(schema), fc.constant({ name: DATASET }));
    }
    return valid(schema);
  };
  const parts = (['params', 'querystring', 'body', 'headers'] as Part[]).filter((p) => route[p]);
  const auth = fc.constantFrom<Auth>('key', 'none', 'forged');
  const validAll = fc.tuple(...parts.map(validPart));
  type Mode = { mutated?: Part; m?: Mutation; values: unknown[] };
  // Mostly malformed: each part mutated three times as often as everything is sent valid.
  const modes: fc.WeightedArbitrary<Mode>[] = [{ arbitrary: validAll.map((values) => ({ values })), weight: 1 }];
  if (!route.static) {
    for (const [i, part] of parts.entries()) {
      const inUrl = part !== 'body';
      const sendable = (m: Mutation) => {
        if (!inUrl) return true;
        // URL parts and headers are flat records of text: mutate one entry, never the record itself.
        if (m.field === '') return false;
        const raw = (m.value as Record<string, unknown>)[m.field.slice(1)];
        // A path has no way to leave a parameter out.
        if (part === 'params' && raw === undefined) return false;
        const leaf = asText(raw);
        return leaf.length <= MAX_URL_VALUE && !(part === 'params' && leaf === '') && !(part === 'headers' && !/^[\x21-\x7e]*$/.test(leaf));
      };
      const arbitrary = fc.tuple(validAll, mutations(route[part]!).filter(sendable)).map(([values, m]): Mode => {
        const copy = [...values];
        copy[i] = m.value;
        return { mutated: part, m, values: copy };
      });
      modes.push({ arbitrary, weight: 3 });
    }
  }
  return fc.tuple(fc.oneof(...modes), auth).map(([{ mutated, m, values }, a]) => {
    const byPart = Object.fromEntries(parts.map((p, i) => [p, values[i]])) as Partial<Record<Part, unknown>>;
    // Generated header text may hold characters no HTTP client sends: such headers are left out.
    const headers = Object.fromEntries(Object.entries(byPart.headers ? textRecord(byPart.headers as Record<string, unknown>) : {}).filter(([, v]) => /^[\x21-\x7e]*$/.test(v)));
    const c: Case = {
      route,
      params: (byPart.params as Record<string, unknown>) ?? {},
      query: byPart.querystring as Record<string, unknown> | undefined,
      body: byPart.body,
      headers,
      auth: a,
      what: mutated ? `${mutated}${m!.field}: ${m!.what}` : 'valid',
    };
    let invalid = false;
    if (mutated && m) {
      const sent = mutated === 'body' ? m.value : mutated === 'headers' ? headers : textRecord((mutated === 'params' ? c.params : c.query) as Record<string, unknown>);
      invalid = !isValid(route[mutated]!, sent, mutated !== 'body');
      if (invalid) c.expect = `${mutated}${m.field}`;
    }
    // A request that passes validation never reaches a writing handler with a key.
    if (route.writes && !invalid) c.auth = 'none';
    if (keyFor[c.auth]) c.headers = { ...c.headers, authorization: `Bearer ${keyFor[c.auth]}` };
    return c;
  });
}

/** Hand-made requests that pass the schemas but break a rule the handlers check. */
function semanticCases(fx: Fixtures): Omit<Case, 'headers' | 'auth'>[] {
  const route = (method: string, path: string) => ROUTES.find((r) => r.method === method && r.path === path)!;
  const post = route('POST', '/experiments');
  const sweeps = route('POST', '/sweeps');
  const predict = route('POST', '/experiments/{id}/predictions');
  const spec = tinySpec(DATASET);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  return [
    { route: post, params: {}, body: { ...spec, dataset: 'no-such-dataset' }, expect: 'dataset', what: 'unknown dataset' },
    { route: post, params: {}, body: { ...spec, slices: 4 }, expect: '/slices', what: 'even slices' },
    { route: post, params: {}, body: { ...spec, model: 'unet25d', slices: 1 }, expect: '/slices', what: 'unet25d with one slice' },
    { route: post, params: {}, body: { ...spec, warmupEpochs: 2 }, expect: '/warmupEpochs', what: 'warm-up as long as training' },
    { route: post, params: {}, body: { ...spec, tileSize: 1024, batchSize: 64, baseFilters: 128 }, expect: '/tileSize', what: 'over the memory budget' },
    { route: post, params: {}, body: { ...spec, epochs: 1000, stepsPerEpoch: 100_000, tileSize: 64, batchSize: 4 }, expect: '/stepsPerEpoch', what: 'over the voxel-step budget' },
    { route: post, params: {}, body: { ...spec, validationVolumes: ['nope'] }, expect: 'validationVolumes', what: 'unknown validation volume' },
    { route: post, params: {}, body: { ...spec, lr: 0.5 }, expect: 'headers/idempotency-key', what: 'idempotency key reused with another body' },
    { route: post, params: {}, raw: { text: '{"dataset": ', contentType: 'application/json' }, expect: 'JSON', what: 'bad JSON' },
    { route: post, params: {}, raw: { text: 'dataset=x', contentType: 'text/plain' }, expect: 'body', what: 'text instead of JSON' },
    { route: post, params: {}, raw: { text: '<spec/>', contentType: 'application/xml' }, expect: 'content-type', what: 'XML' },
    { route: post, params: {}, raw: { text: JSON.stringify({ ...spec, notes: 'n'.repeat(1_100_000) }), contentType: 'application/json' }, expect: 'body', what: 'over the body limit' },
    { route: sweeps, params: {}, body: { name: 's', base: spec, grid: { seed: [1, 2, 1] } }, expect: '/grid/seed/2', what: 'repeated grid value' },
    { route: sweeps, params: {}, body: { name: 's', base: { dataset: DATASET, model: 'unet' }, grid: { epochs: range(50), lr: range(50).map((i) => i / 1000), augmentationP: range(50).map((i) => i / 50), seed: range(50), batchSize: range(10) } }, expect: '/grid', what: '62.5 million runs' },
    { route: sweeps, params: {}, body: { name: 's', base: { ...spec, dataset: 'no-such-dataset' }, grid: { seed: [1, 2] } }, expect: 'base/dataset', what: 'sweep of an unknown dataset' },
    { route: sweeps, params: {}, body: { name: 's', base: { ...spec, tileSize: 1024, baseFilters: 128 }, grid: { batchSize: [2, 64] } }, expect: '/base/tileSize', what: 'sweep cell over budget' },
    { route: predict, params: { id: fx.experimentId }, body: { dataset: DATASET }, expect: fx.experimentId, what: 'no checkpoint yet' },
    { route: predict, params: { id: fx.checkpointedId }, body: { dataset: 'no-such-dataset' }, expect: 'body/dataset', what: 'prediction of an unknown dataset' },
    { route: route('DELETE', '/experiments/{id}'), params: { id: fx.cancelledId }, expect: fx.cancelledId, what: 'cancel twice' },
    { route: route('POST', '/datasets/{name}/volumes'), params: { name: DATASET }, body: { name: 'v', imageKey: 'no/such/array' }, expect: 'body/imageKey', what: 'register a missing array' },
  ];
}

/** Why an answer is wrong, or null. */
function problem(c: Case, status: number, body: any): string | null {
  if (status >= 500) return `server error ${status}: ${JSON.stringify(body).slice(0, 300)}`;
  if (c.route.static) return null;
  if (status < 400) return c.expect ? `accepted (${status}) although invalid` : null;
  const message: unknown = body?.message;
  if (typeof message !== 'string') return `4xx without a message: ${JSON.stringify(body).slice(0, 200)}`;
  if (status === 429) return `rate limited: ${message}`;
  if (status === 401) return message.includes('authorization') || /^body\/\w/.test(message) ? null : `401 not naming authorization: ${message}`;
  // The policy's refusals name the action refused (docs/security.md).
  if (status === 403) return /^[\w.-]+: /.test(message) ? null : `403 not naming the action: ${message}`;
  if (c.expect) return message.includes(c.expect) ? null : `message does not name ${c.expect}: ${message.slice(0, 300)}`;
  if (status === 404 || status === 409) {
    const ids = [...Object.values(c.params), ...Object.values(c.query ?? {})].map(asText);
    return ids.some((id) => id && message.includes(id)) ? null : `${status} not naming the id: ${message}`;
  }
  return /(body|params|querystring|headers)\/\w/.test(message) ? null : `${status} not naming a field: ${message}`;
}

async function pool<T>(items: T[], n: number, run: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await run(items[next++]);
  }));
}

describe('fuzzing every route', () => {
  let api: RunningApi;
  let redis: Redis;
  let fx: Fixtures;
  beforeAll(async () => {
    const db = prisma();
    const ds = await db.dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    const volume = await db.volume.upsert({
      where: { datasetId_name: { datasetId: ds.id, name: 'fuzz-volume' } },
      update: {},
      create: { datasetId: ds.id, name: 'fuzz-volume', role: 'train', imageKey: 'fuzz/none', dtype: 'uint8', depth: 4, height: 8, width: 8, voxelSizeUm: [1, 1, 1], stats: {}, contentHash: 'fuzz' },
    });
    api = await startApi();
    redis = new Redis(process.env.REDIS_URL!);
    const idempotencyKey = `fuzz-${Date.now()}`;
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'fuzz-target' }), { headers: { 'idempotency-key': idempotencyKey } });
    const other = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'fuzz-cancelled' }));
    const sweep = await api.request('POST', '/sweeps', { name: 'fuzz-sweep', base: tinySpec(DATASET), grid: { seed: [1] } });
    expect([created.status, other.status, sweep.status]).toEqual([201, 201, 201]);
    // Cancelled, so no worker of a later test trains them; their rows stay as fixtures.
    for (const id of [created.body.id, other.body.id, sweep.body.experiments[0].id]) await api.request('DELETE', `/experiments/${id}`);
    const checkpointed = await db.experiment.create({
      data: { spec: tinySpec(DATASET), datasetId: ds.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 2, lr: 0.003, augmentationP: 0.2, batchSize: 2, seed: 0, status: 'succeeded' },
    });
    await db.checkpoint.create({ data: { experimentId: checkpointed.id, epoch: 1, s3Key: 'fuzz/none', bytes: 1, sha256: 'x', isBest: true } });
    const prediction = await db.prediction.create({ data: { experimentId: checkpointed.id, datasetName: DATASET, status: 'failed', errorMessage: 'Error: fuzz\n    at x' } });
    fx = { experimentId: created.body.id, checkpointedId: checkpointed.id, cancelledId: other.body.id, sweepId: sweep.body.id, predictionId: prediction.id, volumeId: volume.id, idempotencyKey };
  });
  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  it('covers every route of the OpenAPI document', async () => {
    const doc = (await api.request('GET', '/docs/json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    const fuzzed = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    expect(documented.filter((r) => !fuzzed.has(r))).toEqual([]);
  });

  it(`sends at least 2,000 malformed and boundary requests: no 5xx, every 4xx names the field, nothing stored changes`, async () => {
    const keyFor: Record<Auth, string | null> = { key: api.key, none: null, forged: 'cap_forged_0123456789abcdefghijkl' };
    const cases: Case[] = ROUTES.flatMap((route, i) => {
      const plain = route.static || !(route.params || route.querystring || route.body || route.headers);
      return fc.sample(caseArbitrary(route, fx, keyFor), { numRuns: plain ? PER_PLAIN_ROUTE : PER_ROUTE, seed: SEED + i });
    });
    for (const s of semanticCases(fx)) {
      // With a key each stops at the rule it breaks; without one, at authorization (401) or at parsing.
      for (const a of ['key', 'none'] as Auth[]) {
        const headers: Record<string, string> = s.what.startsWith('idempotency') ? { 'idempotency-key': fx.idempotencyKey } : {};
        if (keyFor[a]) headers.authorization = `Bearer ${keyFor[a]}`;
        cases.push({ ...s, headers, auth: a });
      }
    }
    const before = await snapshotStores(redis);
    const failures: string[] = [];
    const byStatus = new Map<number, number>();
    const t0 = Date.now();
    await pool(cases, CONCURRENCY, async (c) => {
      const headers: Record<string, string> = { ...c.headers };
      let payload: string | undefined;
      if (c.raw) {
        payload = c.raw.text;
        headers['content-type'] = c.raw.contentType;
      } else if (c.body !== undefined && c.route.method !== 'GET') {
        payload = JSON.stringify(c.body);
        headers['content-type'] = 'application/json';
      }
      const res = await fetch(`${api.url}${url(c)}`, { method: c.route.method, headers, body: payload });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* static files, CSV */
      }
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      const p = problem(c, res.status, body);
      if (p) failures.push(`${c.route.method} ${url(c).slice(0, 160)} [${c.what}, auth ${c.auth}] -> ${p}`);
    });
    const seconds = (Date.now() - t0) / 1000;
    const malformed = cases.filter((c) => c.expect).length;
    console.log(`fuzz: sent ${cases.length} requests (${malformed} malformed, ${cases.length - malformed} boundary or unauthenticated) over ${ROUTES.length} routes in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(2000);
    expect(malformed).toBeGreaterThan(cases.length / 3);
    expect(await snapshotStores(redis)).toEqual(before);
  });
});
