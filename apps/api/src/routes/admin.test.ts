import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { startApi, tinySpec, waitUntil, type RunningApi } from '../../../../test/harness.ts';
import { AdminService } from '../services/admin.ts';

// Names are fresh for each run: the test stack's database outlives it.
const tag = randomBytes(3).toString('hex');
const n = (name: string) => `${name}-${tag}`;

describe('administration: users, projects, members, keys and the audit log', () => {
  let api: RunningApi;
  /** Keys by user: an operator (admin of project A), alice (viewer of A), bob (member of A), dave (admin of B only). */
  const keys: Record<'op' | 'alice' | 'bob' | 'dave', string> = { op: '', alice: '', bob: '', dave: '' };
  const A = n('proj-a');
  const B = n('proj-b');

  const as = (who: string, method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
    api.request(method, route, body, { auth: false, headers: { authorization: `Bearer ${who}`, ...headers } });

  beforeAll(async () => {
    api = await startApi();
    // The first operator is made on the server (the CLI's `users create --operator`); the rest through the API.
    const op = await new AdminService(prisma()).createUser(n('op'), true);
    keys.op = (await api.app.apiKeys.create('op key', { userId: op.id })).key;
    for (const who of ['alice', 'bob', 'dave'] as const) {
      const created = await as(keys.op, 'POST', '/users', { name: n(who) });
      expect(created.status).toBe(201);
      keys[who] = (await api.app.apiKeys.create(`${who} key`, { userId: created.body.id })).key;
    }
    expect((await as(keys.op, 'POST', '/projects', { name: A })).status).toBe(201);
    expect((await as(keys.op, 'POST', '/projects', { name: B })).status).toBe(201);
    expect((await as(keys.op, 'PUT', `/projects/${A}/members/${n('alice')}`, { role: 'viewer' })).status).toBe(200);
    expect((await as(keys.op, 'PUT', `/projects/${A}/members/${n('bob')}`, { role: 'member' })).status).toBe(200);
    expect((await as(keys.op, 'PUT', `/projects/${B}/members/${n('dave')}`, { role: 'admin' })).status).toBe(200);
  });
  afterAll(async () => api?.close());

  it('whoami: the user, operator flag, key and projects with roles', async () => {
    const me = await as(keys.op, 'GET', '/whoami');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ user: { name: n('op') }, operator: true, via: 'key', key: { name: 'op key', scope: 'write', project: null, expiresAt: null } });
    expect(me.body.projects).toEqual(expect.arrayContaining([{ name: A, role: 'admin' }, { name: B, role: 'admin' }]));
    const alice = await as(keys.alice, 'GET', '/whoami');
    expect(alice.body).toMatchObject({ user: { name: n('alice') }, operator: false, projects: [{ name: A, role: 'viewer' }] });
    expect((await api.request('GET', '/whoami', undefined, { auth: false })).status).toBe(401);
  });

  it('users: operators create, list, disable and re-enable them; others get 403', async () => {
    expect((await as(keys.bob, 'POST', '/users', { name: n('nobody') })).status).toBe(403);
    expect((await as(keys.bob, 'GET', '/users')).status).toBe(403);
    const dup = await as(keys.op, 'POST', '/users', { name: n('alice') });
    expect(dup.status).toBe(409);
    expect(dup.body.message).toMatch(/^name: /);
    expect((await as(keys.op, 'POST', '/users', { name: 'no spaces allowed' })).status).toBe(400);
    const list = await as(keys.op, 'GET', '/users');
    expect(list.body.items.find((u: { name: string }) => u.name === n('bob'))).toMatchObject({ operator: false, disabledAt: null, projects: [{ name: A, role: 'member' }] });

    const carol = await as(keys.op, 'POST', '/users', { name: n('carol') });
    const carolKey = (await api.app.apiKeys.create('carol key', { userId: carol.body.id })).key;
    const off = await as(keys.op, 'PATCH', `/users/${carol.body.id}`, { disabled: true });
    expect(off.status).toBe(200);
    expect(off.body.disabledAt).not.toBeNull();
    const refused = await as(carolKey, 'GET', '/whoami');
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/disabled/);
    expect((await as(keys.op, 'PATCH', `/users/${carol.body.id}`, { disabled: false })).status).toBe(200);
    expect((await as(carolKey, 'GET', '/whoami')).status).toBe(200);

    const me = (await as(keys.op, 'GET', '/whoami')).body.user.id;
    expect((await as(keys.op, 'PATCH', `/users/${me}`, { disabled: true })).status).toBe(409);
    expect((await as(keys.op, 'PATCH', `/users/${carol.body.id}`, {})).status).toBe(400);
    // An operator's read-only key reads users but creates none.
    const opRead = (await as(keys.op, 'POST', '/keys', { name: 'op read', scope: 'read' })).body.key;
    expect((await as(opRead, 'GET', '/users')).status).toBe(200);
    const readOnly = await as(opRead, 'POST', '/users', { name: n('never') });
    expect(readOnly.status).toBe(403);
    expect(readOnly.body.message).toMatch(/read-only/);
  });

  it('projects: operators create them, becoming admin; each caller lists its own', async () => {
    expect((await as(keys.dave, 'POST', '/projects', { name: n('proj-c') })).status).toBe(403);
    expect((await as(keys.op, 'POST', '/projects', { name: A })).status).toBe(409);
    const mine = await as(keys.bob, 'GET', '/projects');
    expect(mine.body.items).toEqual([{ name: A, role: 'member' }]);
    expect((await as(keys.bob, 'GET', '/projects?all=true')).status).toBe(403);
    const all = await as(keys.op, 'GET', '/projects?all=true');
    expect(all.body.items).toEqual(expect.arrayContaining([{ name: A, role: 'admin' }, { name: 'default', role: null }]));
  });

  it("members: admins manage them; viewers and members get 403, another project's admin 404", async () => {
    const list = await as(keys.op, 'GET', `/projects/${A}/members`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((m: { user: string; role: string }) => [m.user, m.role])).toEqual(
      expect.arrayContaining([[n('op'), 'admin'], [n('alice'), 'viewer'], [n('bob'), 'member']]),
    );
    expect((await as(keys.alice, 'GET', `/projects/${A}/members`)).status).toBe(403);
    const byMember = await as(keys.bob, 'PUT', `/projects/${A}/members/${n('bob')}`, { role: 'admin' });
    expect(byMember.status).toBe(403);
    expect(byMember.body.message).toMatch(/^member\.manage: /);
    expect((await as(keys.dave, 'GET', `/projects/${A}/members`)).status).toBe(404);
    expect((await as(keys.dave, 'PUT', `/projects/${A}/members/${n('dave')}`, { role: 'admin' })).status).toBe(404);
    expect((await as(keys.op, 'PUT', `/projects/${A}/members/${n('ghost')}`, { role: 'viewer' })).status).toBe(404);
    expect((await as(keys.op, 'PUT', `/projects/${A}/members/${n('bob')}`, { role: 'owner' })).status).toBe(400);

    // The last admin can be neither demoted nor removed; with a second admin, both can.
    const demote = await as(keys.op, 'PUT', `/projects/${A}/members/${n('op')}`, { role: 'member' });
    expect(demote.status).toBe(409);
    expect(demote.body.message).toMatch(/last admin/);
    expect((await as(keys.op, 'DELETE', `/projects/${A}/members/${n('op')}`)).status).toBe(409);
    expect((await as(keys.dave, 'PUT', `/projects/${B}/members/${n('carol')}`, { role: 'viewer' })).status).toBe(200);
    expect((await as(keys.dave, 'PUT', `/projects/${B}/members/${n('carol')}`, { role: 'admin' })).status).toBe(200);
    expect((await as(keys.dave, 'PUT', `/projects/${B}/members/${n('dave')}`, { role: 'member' })).status).toBe(200);
    expect((await as(keys.dave, 'GET', `/projects/${B}/members`)).status).toBe(403);
    expect((await as(keys.bob, 'PUT', `/projects/${B}/members/${n('carol')}`, { role: 'viewer' })).status).toBe(404);

    // A removed member no longer sees the project.
    expect((await as(keys.op, 'PUT', `/projects/${A}/members/${n('dave')}`, { role: 'viewer' })).status).toBe(200);
    expect((await as(keys.dave, 'GET', '/projects')).body.items).toEqual(expect.arrayContaining([{ name: A, role: 'viewer' }]));
    expect((await as(keys.op, 'DELETE', `/projects/${A}/members/${n('dave')}`)).status).toBe(204);
    expect((await as(keys.dave, 'GET', '/projects')).body.items).toEqual([{ name: B, role: 'member' }]);
    expect((await as(keys.op, 'DELETE', `/projects/${A}/members/${n('dave')}`)).status).toBe(404);
  });

  it('keys: created limited, read-only or expiring, never beyond the calling key', async () => {
    const made = await as(keys.bob, 'POST', '/keys', { name: 'ci', project: A, scope: 'read', expiresInDays: 7 });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: 'ci', user: n('bob'), project: A, scope: 'read', revokedAt: null });
    expect(made.body.key).toMatch(/^cap_/);
    const ci = made.body.key as string;
    const me = await as(ci, 'GET', '/whoami');
    expect(me.body).toMatchObject({ key: { id: made.body.id, scope: 'read', project: A }, projects: [{ name: A, role: 'member' }] });

    // A read-scoped key writes nothing: no run, no write key.
    const post = await as(ci, 'POST', '/experiments', tinySpec('any-dataset'), { 'x-capillary-project': A });
    expect(post.status).toBe(403);
    expect(post.body.message).toMatch(/read-only/);
    const writeKey = await as(ci, 'POST', '/keys', { name: 'escalate', project: A, scope: 'write' });
    expect(writeKey.status).toBe(403);
    expect(writeKey.body.message).toMatch(/read-only/);
    // A key limited to a project makes no unlimited key; an expiring key none that outlives it.
    const deploy = await as(keys.bob, 'POST', '/keys', { name: 'deploy', project: A, expiresInDays: 7 });
    expect(deploy.status).toBe(201);
    const unlimited = await as(deploy.body.key, 'POST', '/keys', { name: 'escalate' });
    expect(unlimited.status).toBe(403);
    expect(unlimited.body.message).toMatch(/^project: /);
    const longer = await as(deploy.body.key, 'POST', '/keys', { name: 'escalate', project: A, expiresInDays: 30 });
    expect(longer.status).toBe(403);
    expect(longer.body.message).toMatch(/^expiresAt: /);
    const inherited = await as(deploy.body.key, 'POST', '/keys', { name: 'child', project: A, scope: 'read' });
    expect(inherited.status).toBe(201);
    expect(inherited.body).toMatchObject({ scope: 'read', project: A, expiresAt: deploy.body.expiresAt });

    expect((await as(keys.bob, 'POST', '/keys', { name: 'elsewhere', project: B })).status).toBe(400);
    expect((await as(keys.bob, 'POST', '/keys', { name: 'both', expiresInDays: 1, expiresAt: new Date(Date.now() + 1e6).toISOString() })).status).toBe(400);
    expect((await as(keys.bob, 'POST', '/keys', { name: 'past', expiresAt: '2020-01-01T00:00:00Z' })).status).toBe(400);

    const own = await as(keys.bob, 'GET', '/keys');
    expect(own.body.items.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['bob key', 'ci', 'child']));
    expect(JSON.stringify(own.body)).not.toContain(ci);
    // The limited key lists only the keys limited to its project.
    expect((await as(ci, 'GET', '/keys')).body.items.map((k: { name: string }) => k.name).sort()).toEqual(['child', 'ci', 'deploy']);
  });

  it('keys: revoke and rotate; revoked and expired keys get 401', async () => {
    const a = (await as(keys.alice, 'POST', '/keys', { name: 'laptop' })).body;
    expect((await as(keys.bob, 'DELETE', `/keys/${a.id}`)).status).toBe(404);
    const revoked = await as(keys.alice, 'DELETE', `/keys/${a.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const refused = await as(a.key, 'GET', '/whoami');
    expect(refused.status).toBe(401);
    expect(refused.body.message).toMatch(/revoked/);
    expect((await as(keys.alice, 'POST', `/keys/${a.id}/rotate`)).status).toBe(409);

    const b = (await as(keys.alice, 'POST', '/keys', { name: 'server', project: A, scope: 'read' })).body;
    const rotated = await as(keys.alice, 'POST', `/keys/${b.id}/rotate`);
    expect(rotated.status).toBe(201);
    expect(rotated.body).toMatchObject({ name: 'server', project: A, scope: 'read', replaces: b.id });
    expect(rotated.body.id).not.toBe(b.id);
    expect((await as(b.key, 'GET', '/whoami')).status).toBe(401);
    expect((await as(rotated.body.key, 'GET', '/whoami')).body.key).toMatchObject({ id: rotated.body.id, scope: 'read', project: A });
    // A read key cannot rotate a write key into its hands.
    const bobWrite = (await as(keys.bob, 'POST', '/keys', { name: 'w' })).body;
    const bobRead = (await as(keys.bob, 'POST', '/keys', { name: 'r', scope: 'read' })).body;
    expect((await as(bobRead.key, 'POST', `/keys/${bobWrite.id}/rotate`)).status).toBe(403);

    const aliceId = (await as(keys.alice, 'GET', '/whoami')).body.user.id;
    const expired = await api.app.apiKeys.create('old', { userId: aliceId, expiresAt: new Date(Date.now() - 1000) });
    const gone = await as(expired.key, 'GET', '/whoami');
    expect(gone.status).toBe(401);
    expect(gone.body.message).toMatch(/expired/);
  });

  it("keys: a project's admins list and revoke the keys acting in it, and no other", async () => {
    const bobsKey = (await as(keys.bob, 'POST', '/keys', { name: 'to revoke' })).body;
    const davesKey = (await as(keys.dave, 'POST', '/keys', { name: 'dave elsewhere' })).body;
    const list = await as(keys.op, 'GET', `/projects/${A}/keys`);
    expect(list.status).toBe(200);
    const ids = list.body.items.map((k: { id: string }) => k.id);
    expect(ids).toContain(bobsKey.id);
    expect(ids).not.toContain(davesKey.id);
    expect((await as(keys.bob, 'GET', `/projects/${A}/keys`)).status).toBe(403);
    expect((await as(keys.dave, 'GET', `/projects/${A}/keys`)).status).toBe(404);
    expect((await as(keys.op, 'DELETE', `/projects/${A}/keys/${davesKey.id}`)).status).toBe(404);
    expect((await as(keys.dave, 'GET', '/whoami')).status).toBe(200);
    const revoked = await as(keys.op, 'DELETE', `/projects/${A}/keys/${bobsKey.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: bobsKey.id, user: n('bob') });
    expect((await as(bobsKey.key, 'GET', '/whoami')).status).toBe(401);
  });

  it('audit: admins read their project\'s mutating requests, newest first; others get 403 or 404', async () => {
    const headers = { 'x-capillary-project': A };
    expect((await as(keys.op, 'PUT', `/projects/${A}/members/${n('alice')}`, { role: 'viewer' })).status).toBe(200);
    expect((await as(keys.op, 'DELETE', `/projects/${A}/members/${n('op')}`)).status).toBe(409);
    // Entries are written after the reply.
    const page = await waitUntil('the audit entries of the last two requests', async () => {
      const r = await as(keys.op, 'GET', `/audit?action=member.manage&user=${n('op')}`, undefined, headers);
      return r.status === 200 && r.body.items[0]?.statusCode === 409 ? r.body : undefined;
    }, 10_000, 100);
    expect(page.items[0]).toMatchObject({ user: n('op'), via: 'key', method: 'DELETE', route: '/projects/:project/members/:user', action: 'member.manage', resourceId: n('op'), project: A, statusCode: 409 });
    expect(page.items[1]).toMatchObject({ method: 'PUT', resourceId: n('alice'), statusCode: 200 });
    expect(page.items.every((e: { project: string }) => e.project === A)).toBe(true);
    expect(Number(page.items[0].id)).toBeGreaterThan(Number(page.items[1].id));

    const one = await as(keys.op, 'GET', '/audit?limit=1', undefined, headers);
    expect(one.body.items).toHaveLength(1);
    const next = await as(keys.op, 'GET', `/audit?limit=1&before=${one.body.nextBefore}`, undefined, headers);
    expect(Number(next.body.items[0].id)).toBeLessThan(Number(one.body.items[0].id));
    expect((await as(keys.op, 'GET', '/audit?limit=501', undefined, headers)).status).toBe(400);

    expect((await as(keys.bob, 'GET', '/audit', undefined, headers)).status).toBe(403);
    expect((await as(keys.alice, 'GET', '/audit', undefined, headers)).status).toBe(403);
    expect((await as(keys.dave, 'GET', '/audit', undefined, headers)).status).toBe(404);

    // Operators read everything, the entries of no project (users, projects) included.
    expect((await as(keys.dave, 'GET', '/audit/all')).status).toBe(403);
    const users = await as(keys.op, 'GET', `/audit/all?action=operator&user=${n('op')}&limit=500`);
    expect(users.body.items).toEqual(expect.arrayContaining([expect.objectContaining({ method: 'POST', route: '/users', statusCode: 201, project: null })]));
  });
});
