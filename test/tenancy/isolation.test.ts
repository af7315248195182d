// Issue 24, acceptance 3: another project's ids are a 404 on every route, and no list,
// leaderboard, queue view or event stream includes another project's rows.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { removeHeartbeat, writeHeartbeat, EventPublisher } from '@capillary/queue';
import { ACTIONS } from '@capillary/api';
import { waitUntil } from '../harness.ts';
import { openEvents } from '../sse-client.ts';
import { PROJECT_HEADER, buildWorld, idsOf, startTenancyApi, type TenancyApi, type World } from './world.ts';
import { documentedRoutes, fillRequest, projectAction, type DocumentedRoute } from './requests.ts';

const api: TenancyApi = await startTenancyApi();
const routes: DocumentedRoute[] = await documentedRoutes(api);
/** Routes that name a row or a project in their path: each must hide another project's. */
const byId = routes.filter((r) => /\{\w+\}/.test(r.path) && projectAction(r));
/** Every read a project's admin may do. */
const reads = routes.filter((r) => r.method === 'GET' && projectAction(r));

describe("another project's rows", () => {
  let world: World;
  let redis: Redis;
  beforeAll(async () => {
    world = await buildWorld(api, 'isolation');
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await api.close();
    redis?.disconnect();
  });

  it.each(byId.map((r) => [`${r.method} ${r.path}`, r] as const))("%s: A's ids are a 404 to B's admin, B's own are found", async (_, route) => {
    const theirs = fillRequest(route, world.A);
    const res = await api.send(route.method, theirs.path, { key: world.people.adminB.key, body: theirs.body });
    expect(res.status, `${route.method} ${theirs.path}: ${res.text.slice(0, 200)}`).toBe(404);
    // Nothing of A's beyond what the request itself named.
    for (const id of idsOf(world.A).filter((i) => !theirs.path.includes(i))) expect(res.text).not.toContain(id);
    const own = fillRequest(route, world.B);
    const mine = await api.send(route.method, own.path, { key: world.people.adminB.key, body: own.body });
    if (own.fixtured) expect([401, 403, 404], `${route.method} ${own.path}: ${mine.text.slice(0, 200)}`).not.toContain(mine.status);
  });

  it("an unknown id and another project's id get the same answer", async () => {
    const unknown = randomUUID();
    const theirs = await api.send('GET', `/experiments/${world.A.experimentId}`, { key: world.people.adminB.key });
    const none = await api.send('GET', `/experiments/${unknown}`, { key: world.people.adminB.key });
    expect([theirs.status, theirs.body.message.replace(world.A.experimentId, 'ID')]).toEqual([none.status, none.body.message.replace(unknown, 'ID')]);
  });

  it.each(reads.map((r) => [`${r.method} ${r.path}`, r] as const))("%s of B holds none of A's rows", async (_, route) => {
    const req = fillRequest(route, world.B);
    const res = await api.send('GET', req.path, { key: world.people.adminB.key, headers: { [PROJECT_HEADER]: world.B.project.name } });
    expect(res.status, `${req.path}: ${res.text.slice(0, 200)}`).toBeLessThan(400);
    for (const id of idsOf(world.A)) expect(res.text, `${req.path} names ${id}`).not.toContain(id);
  });

  it("naming A in the project header is a 404 to B's admin on every list", async () => {
    for (const route of reads.filter((r) => ACTIONS[projectAction(r)!].resource === 'project' && !/\{\w+\}/.test(r.path))) {
      const res = await api.send('GET', route.path, { key: world.people.adminB.key, headers: { [PROJECT_HEADER]: world.A.project.name } });
      expect(res.status, route.path).toBe(404);
    }
  });

  it("the queue lists a worker's runs of the caller's project only", async () => {
    const worker = `tenancy-${randomUUID()}`;
    await writeHeartbeat(redis, { id: worker, backend: 'cpu', concurrency: 2, running: [world.A.experimentId, world.B.experimentId], pid: 1, host: 'tenancy-test', lastSeen: new Date().toISOString() });
    try {
      const runningFor = async (key: string) => {
        const res = await api.send('GET', '/queue', { key });
        expect(res.status).toBe(200);
        return res.body.workers.find((w: { id: string }) => w.id === worker)?.running;
      };
      expect(await runningFor(world.people.adminB.key)).toEqual([world.B.experimentId]);
      expect(await runningFor(world.people.viewer.key)).toEqual([world.A.experimentId]);
    } finally {
      await removeHeartbeat(redis, worker);
    }
  });

  it("B's event stream carries B's events, never A's", async () => {
    const db = prisma();
    // Paused and outside any sweep: its stream stays open, and no reconciler or worker takes it up.
    const source = await db.experiment.findUniqueOrThrow({ where: { id: world.B.experimentId } });
    const { id: _, createdAt: __, updatedAt: ___, ...columns } = source;
    const live = await db.experiment.create({ data: { ...columns, spec: columns.spec as object, status: 'paused', name: 'isolation-live', finishedAt: null } });
    const stream = await openEvents(`${api.url}/experiments/${live.id}/events`, { authorization: `Bearer ${world.people.adminB.key}` });
    try {
      expect(stream.status).toBe(200);
      await waitUntil('the snapshot', async () => (stream.events.length ? true : undefined), 10_000, 20);
      const publisher = new EventPublisher(redis);
      // A's event first, on the same connection: were it delivered to B's stream, it would arrive before B's.
      await publisher.publish(world.A.experimentId, { type: 'status', status: 'running' });
      await publisher.publish(live.id, { type: 'status', status: 'running' });
      await waitUntil("B's event", async () => (stream.events.length >= 2 ? true : undefined), 10_000, 20);
      expect(stream.events.map((e) => [e.event, e.data.experimentId ?? live.id])).toEqual([['snapshot', live.id], ['status', live.id]]);
      for (const id of idsOf(world.A)) expect(JSON.stringify(stream.events)).not.toContain(id);
      // A's stream is a 404 to B's admin.
      const theirs = await openEvents(`${api.url}/experiments/${world.A.experimentId}/events`, { authorization: `Bearer ${world.people.adminB.key}` });
      expect(theirs.status).toBe(404);
    } finally {
      stream.abort();
      await db.experiment.update({ where: { id: live.id }, data: { status: 'cancelled' } });
    }
  });
});
