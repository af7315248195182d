// Build 6, webhooks: real runs end, the registry writes their deliveries with the transition, the
// API posts them to a loopback receiver, signed, retried after a 500, in the order they happened.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'e2e-webhooks';
const SECRET = 'whsec_e2e-webhooks-test-secret';
const PROJECT = { 'x-capillary-project': 'default' };
// Both the worker (it queues the deliveries a run's end wrote) and this process (the API, which
// posts them; the reconciler re-queues) read the retry policy: short back-off, few tries.
const RETRY_ENV = { WEBHOOK_ATTEMPTS: '5', WEBHOOK_BACKOFF_MS: '1500', WEBHOOK_TIMEOUT_MS: '5000' };
// A tiny run trains in seconds; the run meant to fail trains for hours and is stopped by this limit.
const JOB_TIMEOUT_MS = '45000';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** The receiver: answers 500 to the first try of every sweep trial's `experiment.succeeded`, 204 to the rest. */
function receiver() {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const parsed = JSON.parse(body) as { type: string; data: { experiment?: { sweepId: string | null } } };
      const firstTry = req.headers['capillary-attempt'] === '1';
      const answered = firstTry && parsed.type === 'experiment.succeeded' && parsed.data.experiment?.sweepId ? 500 : 204;
      received.push({ headers: req.headers, body, answered });
      res.writeHead(answered).end();
    });
  });
  return { server, received };
}

/** What a receiver does, in a few lines: recompute the HMAC of `${timestamp}.${body}` and compare in constant time. */
function verified(r: Received, secret: string): boolean {
  const timestamp = String(r.headers['capillary-timestamp']);
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${r.body}`).digest('hex')}`);
  const given = Buffer.from(String(r.headers['capillary-signature']));
  return given.length === expected.length && timingSafeEqual(given, expected) && Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
}

let api: RunningApi;
let worker: RunningWorker;
let server: Server;
let received: Received[];
let url: string;

beforeAll(async () => {
  Object.assign(process.env, RETRY_ENV);
  await seedSyntheticDataset(DATASET, { seed: 5, trainVolumes: 1, validationVolumes: 1, shape: [16, 48, 48] });
  ({ server, received } = receiver());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  api = await startApi({ ...RETRY_ENV, RECONCILER: 'true', RECONCILE_INTERVAL_MS: '2000' });
  // One worker: runs end one after another, so the order they ended in is plain in the database.
  worker = startWorker({ ...RETRY_ENV, WORKER_ID: 'webhooks', JOB_TIMEOUT_MS });
});
afterAll(async () => {
  await worker?.stop();
  // Leave no endpoint behind for other test files' runs to be delivered to.
  await prisma().webhookEndpoint.deleteMany({ where: { url } }).catch(() => undefined);
  await api?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('webhook endpoints', () => {
  it('refuses bad input naming the field, shows the secret only at creation, and only to admins of the project', async () => {
    const bad = await api.request('POST', '/webhooks', { url: 'ftp://example.org/x', events: ['sweep.finished'] }, { headers: PROJECT });
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i: { field: string }) => i.field)).toEqual(['body/url']);
    const badEvent = await api.request('POST', '/webhooks', { url, events: ['experiment.started'] }, { headers: PROJECT });
    expect(badEvent.status).toBe(400);
    expect(badEvent.body.issues[0].field).toMatch(/^body\/events/);
    const badKey = await api.request('POST', '/webhooks', { url, events: ['sweep.finished'], apiKeyId: '00000000-0000-4000-8000-000000000000' }, { headers: PROJECT });
    expect(badKey.status).toBe(400);
    expect(badKey.body.issues[0].field).toBe('body/apiKeyId');

    const made = await api.request('POST', '/webhooks', { url: `${url}?spare=1`, events: ['sweep.finished'] }, { headers: PROJECT });
    expect(made.status).toBe(201);
    expect(made.body.secret).toMatch(/^whsec_/);
    const listed = await api.request('GET', '/webhooks', undefined, { headers: PROJECT });
    const mine = listed.body.items.find((e: { id: string }) => e.id === made.body.id);
    expect(mine).toMatchObject({ url: `${url}?spare=1`, events: ['sweep.finished'], apiKeyId: null });
    expect(JSON.stringify(listed.body)).not.toContain(made.body.secret);

    // A read-only key of the same admin may not register one (and nobody but admins lists them).
    const reader = await api.request('POST', '/keys', { name: 'webhooks-reader', scope: 'read', project: 'default' });
    expect(reader.status).toBe(201);
    const refused = await fetch(`${api.url}/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${reader.body.key}`, 'content-type': 'application/json', ...PROJECT }, body: JSON.stringify({ url, events: ['sweep.finished'] }) });
    expect(refused.status).toBe(403);

    expect((await api.request('DELETE', `/webhooks/${made.body.id}`, undefined, { headers: PROJECT })).status).toBe(200);
    expect((await api.request('DELETE', `/webhooks/${made.body.id}`, undefined, { headers: PROJECT })).status).toBe(404);
  });
});

describe('webhook deliveries from real runs', () => {
  it('posts experiment.succeeded|failed and sweep.finished, signed, retried after a 500 with both codes recorded, in the order the runs ended', async () => {
    // Limited to this test's key: runs of other test files in the same project are not its business.
    const apiKeyId = (await api.request('GET', '/whoami')).body.key.id as string;
    const endpoint = await api.request('POST', '/webhooks', { url, events: ['experiment.succeeded', 'experiment.failed', 'sweep.finished'], secret: SECRET, apiKeyId, description: 'e2e' }, { headers: PROJECT });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    expect(endpoint.body.secret).toBe(SECRET);
    const endpointId = endpoint.body.id as string;

    // A sweep of two tiny trials, a lone tiny run, and a run that trains past the job time limit.
    const sweep = await api.request('POST', '/sweeps', { name: 'e2e-webhooks', base: tinySpec(DATASET, { epochs: 1 }), grid: { lr: [0.003, 0.002] } });
    expect(sweep.status, JSON.stringify(sweep.body)).toBe(201);
    const lone = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'webhooks-lone', epochs: 1 }));
    const doomed = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'webhooks-doomed', epochs: 1000, stepsPerEpoch: 200 }));
    expect([lone.status, doomed.status]).toEqual([201, 201]);
    const runIds = [...sweep.body.experiments.map((e: { id: string }) => e.id), lone.body.id, doomed.body.id] as string[];

    const runs = await waitUntil('every run to end', async () => {
      const rows = await prisma().experiment.findMany({ where: { id: { in: runIds } }, select: { id: true, status: true, sweepId: true, finishedAt: true, errorMessage: true } });
      return rows.every((r) => ['succeeded', 'failed', 'cancelled'].includes(r.status)) ? rows : undefined;
    }, 300_000, 500);
    expect(Object.fromEntries(runs.map((r) => [r.id, r.status]))).toEqual({
      [runIds[0]]: 'succeeded', [runIds[1]]: 'succeeded', [runIds[2]]: 'succeeded', [runIds[3]]: 'failed',
    });

    // Five events: four run endings and the sweep's, each delivered once with a 2xx.
    const deliveries = await waitUntil('five deliveries to end', async () => {
      const rows = await prisma().webhookDelivery.findMany({ where: { endpointId }, orderBy: { seq: 'asc' }, include: { tries: { orderBy: { number: 'asc' } } } });
      return rows.length === 5 && rows.every((d) => d.status !== 'pending') ? rows : undefined;
    }, 120_000, 200);
    expect(deliveries.map((d) => d.status)).toEqual(Array(5).fill('delivered'));

    // The order things happened: runs by the time they ended, the sweep's end right after its last trial's.
    const ended = [...runs].sort((a, b) => a.finishedAt!.getTime() - b.finishedAt!.getTime());
    const lastTrial = ended.filter((r) => r.sweepId).at(-1)!;
    const happened = ended.flatMap((r) => [
      `experiment.${r.status}:${r.id}`,
      ...(r.id === lastTrial.id ? [`sweep.finished:${sweep.body.id}`] : []),
    ]);
    expect(deliveries.map((d) => `${d.event}:${d.subjectId}`)).toEqual(happened);

    // What the receiver accepted (2xx), in arrival order, is exactly that order.
    const accepted = received.filter((r) => r.answered < 300 && r.headers['capillary-delivery'] && deliveries.some((d) => d.id === r.headers['capillary-delivery']));
    expect(accepted.map((r) => `${r.headers['capillary-event']}:${subjectOf(r.body)}`)).toEqual(happened);

    // Every try, refused or not, carries a valid signature over its exact body, and the body says what the headers say.
    const mine = received.filter((r) => deliveries.some((d) => d.id === r.headers['capillary-delivery']));
    for (const r of mine) {
      expect(verified(r, SECRET)).toBe(true);
      expect(verified(r, `${SECRET}-not`)).toBe(false);
      const body = JSON.parse(r.body);
      expect(body.type).toBe(r.headers['capillary-event']);
      expect(body.id).toBe(r.headers['capillary-event-id']);
      expect(body.project).toBe('default');
    }

    // The sweep trials' first tries got a 500: each was retried, and both codes are recorded.
    for (const d of deliveries.filter((x) => x.event === 'experiment.succeeded' && x.subjectId !== lone.body.id)) {
      expect(d.tries.map((t) => t.statusCode)).toEqual([500, 204]);
      expect(d.attempts).toBe(2);
      expect(d.lastStatusCode).toBe(204);
      expect(mine.filter((r) => r.headers['capillary-delivery'] === d.id).map((r) => [r.headers['capillary-attempt'], r.answered])).toEqual([['1', 500], ['2', 204]]);
    }
    for (const d of deliveries.filter((x) => x.event !== 'experiment.succeeded' || x.subjectId === lone.body.id)) {
      expect(d.tries.map((t) => t.statusCode)).toEqual([204]);
    }
    // sweep.finished was written in the same transaction as the last trial's end, yet waited for
    // that delivery's retry: nothing of the endpoint arrived between the 500 and its retry.
    const lastTrialDelivery = deliveries.find((d) => d.event === 'experiment.succeeded' && d.subjectId === lastTrial.id)!;
    const at = (deliveryId: string, attempt: string) => mine.findIndex((r) => r.headers['capillary-delivery'] === deliveryId && r.headers['capillary-attempt'] === attempt);
    const sweepDelivery = deliveries.find((d) => d.event === 'sweep.finished')!;
    expect(at(sweepDelivery.id, '1')).toBe(at(lastTrialDelivery.id, '2') + 1);
    // ... and was woken as soon as that one was delivered, not by its fallback look 30 s later.
    expect(sweepDelivery.tries[0].at.getTime() - lastTrialDelivery.tries[1].at.getTime()).toBeLessThan(10_000);

    // The payloads: the failed run says why; the sweep counts its outcomes and names its best trial.
    const failed = JSON.parse(accepted.find((r) => r.headers['capillary-event'] === 'experiment.failed')!.body);
    expect(failed.data.experiment).toMatchObject({ id: doomed.body.id, status: 'failed', dataset: DATASET });
    expect(failed.data.experiment.errorMessage).toMatch(/time limit/);
    expect(failed.data.experiment).not.toHaveProperty('privateScore');
    const finished = JSON.parse(accepted.find((r) => r.headers['capillary-event'] === 'sweep.finished')!.body);
    expect(finished.data.sweep).toMatchObject({ id: sweep.body.id, trials: 2, outcomes: { succeeded: 2 } });
    expect(runIds.slice(0, 2)).toContain(finished.data.sweep.best.experimentId);

    // The API reads the same record, tries and codes included.
    const listed = await api.request('GET', `/webhooks/${endpointId}/deliveries`, undefined, { headers: PROJECT });
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((d: { seq: number }) => d.seq)).toEqual(deliveries.map((d) => Number(d.seq)).reverse());
    expect(listed.body.items.find((d: { id: string }) => d.id === lastTrialDelivery.id).tries.map((t: { statusCode: number }) => t.statusCode)).toEqual([500, 204]);
  });
});

function subjectOf(body: string): string {
  const b = JSON.parse(body) as { data: { experiment?: { id: string }; sweep?: { id: string } } };
  return b.data.experiment?.id ?? b.data.sweep!.id;
}
