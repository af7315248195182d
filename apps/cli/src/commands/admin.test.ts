import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startApi, waitUntil, type RunningApi } from '../../../../test/harness.ts';

const bin = path.join(REPO_ROOT, 'apps/cli/bin/capillary.mjs');
// Names are fresh for each run: the test stack's database outlives it.
const tag = randomBytes(3).toString('hex');
const n = (name: string) => `${name}-${tag}`;

describe('capillary users, api-key, whoami, projects, members, keys and audit, end to end', () => {
  let api: RunningApi;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => api?.close());

  /** The CLI as a child process, against this API and the test stack's database; `key` is CAPILLARY_API_KEY. */
  const run = (key: string | undefined, ...args: string[]) => {
    const env: Record<string, string | undefined> = { ...process.env, CAPILLARY_API: api.url, CAPILLARY_API_KEY: key };
    if (key === undefined) delete env.CAPILLARY_API_KEY;
    return promisify(execFile)(process.execPath, [bin, ...args], { cwd: REPO_ROOT, env }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  };
  const ok = async (key: string | undefined, ...args: string[]) => {
    const r = await run(key, ...args);
    expect(r.code, `capillary ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };

  it('makes the first operator on the server, who then administers through the API', async () => {
    const created = await ok(undefined, 'users', 'create', n('root'), '--operator');
    expect(JSON.parse(created.stdout)).toMatchObject({ name: n('root'), operator: true });
    const dup = await run(undefined, 'users', 'create', n('root'));
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/<name>: a user named .* already exists/);

    const rootKey = (await ok(undefined, 'api-key', 'create', '--name', 'root laptop', '--user', n('root'))).stdout.trim();
    expect(rootKey).toMatch(/^cap_/);
    const me = JSON.parse((await ok(rootKey, 'whoami', '--json')).stdout);
    expect(me).toMatchObject({ user: { name: n('root') }, operator: true, key: { name: 'root laptop', scope: 'write', project: null } });
    expect((await ok(rootKey, 'whoami')).stdout).toMatch(new RegExp(`user +${n('root')} \\(operator\\)`));

    // Projects and members through the API.
    await ok(rootKey, 'projects', 'create', n('lab'));
    await ok(undefined, 'users', 'create', n('ada'));
    await ok(rootKey, 'members', 'set', n('ada'), '--project', n('lab'), '--role', 'member');
    const members = JSON.parse((await ok(rootKey, 'members', 'list', '--project', n('lab'), '--json')).stdout);
    expect(members.map((m: { user: string; role: string }) => [m.user, m.role])).toEqual(expect.arrayContaining([[n('root'), 'admin'], [n('ada'), 'member']]));
    const lastAdmin = await run(rootKey, 'members', 'remove', n('root'), '--project', n('lab'));
    expect(lastAdmin.code).not.toBe(0);
    expect(lastAdmin.stderr).toMatch(/409: role: this is the project's last admin/);

    // A key made on the server for ada, limited and read-only; she lists her projects with it.
    const adaKey = (await ok(undefined, 'api-key', 'create', '--name', 'ada ci', '--user', n('ada'), '--project', n('lab'), '--scope', 'read', '--expires-in-days', '7')).stdout.trim();
    const ada = JSON.parse((await ok(adaKey, 'whoami', '--json')).stdout);
    expect(ada).toMatchObject({ user: { name: n('ada') }, operator: false, key: { scope: 'read', project: n('lab') }, projects: [{ name: n('lab'), role: 'member' }] });
    expect(ada.key.expiresAt).not.toBeNull();
    expect(JSON.parse((await ok(adaKey, 'projects', 'list', '--json')).stdout)).toEqual([{ name: n('lab'), role: 'member' }]);
    const adaListed = JSON.parse((await ok(undefined, 'api-key', 'list', '--user', n('ada'), '--json')).stdout);
    expect(adaListed).toEqual([expect.objectContaining({ name: 'ada ci', user: n('ada'), project: n('lab'), scope: 'read' })]);
    expect(JSON.stringify(adaListed)).not.toContain(adaKey);

    // The operator's own keys: create, rotate (the old one stops working), revoke.
    const ciKey = (await ok(rootKey, 'keys', 'create', '--name', 'ci', '--project', n('lab'), '--scope', 'read')).stdout.trim();
    const ci = JSON.parse((await ok(ciKey, 'whoami', '--json')).stdout).key;
    const rotated = await ok(rootKey, 'keys', 'rotate', ci.id);
    const newCiKey = rotated.stdout.trim();
    expect(rotated.stderr).toMatch(/its replacement is key/);
    expect((await run(ciKey, 'whoami')).stderr).toMatch(/401: authorization: the API key was revoked/);
    const newCi = JSON.parse((await ok(newCiKey, 'whoami', '--json')).stdout).key;
    expect(newCi).toMatchObject({ name: 'ci', scope: 'read', project: n('lab') });
    const own = JSON.parse((await ok(rootKey, 'keys', 'list', '--json')).stdout);
    expect(own.find((k: { id: string }) => k.id === ci.id).revokedAt).not.toBeNull();
    await ok(rootKey, 'keys', 'revoke', newCi.id);
    expect((await run(newCiKey, 'whoami')).code).not.toBe(0);

    // The project's audit log shows the membership change.
    await waitUntil('the audit entry of the refused removal', async () => {
      const r = await api.request('GET', '/audit/all?action=member.manage&limit=500', undefined, { auth: false, headers: { authorization: `Bearer ${rootKey}` } });
      return r.body.items?.some((e: { statusCode: number; project: string }) => e.statusCode === 409 && e.project === n('lab')) || undefined;
    }, 10_000, 100);
    const audit = JSON.parse((await ok(rootKey, 'audit', '--project', n('lab'), '--action', 'member.manage', '--json')).stdout);
    expect(audit.items).toEqual(expect.arrayContaining([
      expect.objectContaining({ user: n('root'), method: 'PUT', resourceId: n('ada'), statusCode: 200 }),
      expect.objectContaining({ user: n('root'), method: 'DELETE', resourceId: n('root'), statusCode: 409 }),
    ]));
    const refused = await run(adaKey, 'audit', '--project', n('lab'));
    expect(refused.stderr).toMatch(/403: audit\.read: /);
    // Some twenty CLI processes, each a tsx start: slow on a busy machine.
  }, 300_000);

  it('refuses bad input, naming the option', async () => {
    const noKey = await run(undefined, 'whoami');
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toMatch(/--key: no API key; set CAPILLARY_API_KEY/);
    const noUser = await run(undefined, 'api-key', 'create', '--name', 'x', '--user', n('ghost'));
    expect(noUser.stderr).toMatch(/--user: no user named/);
    const scope = await run(undefined, 'api-key', 'create', '--name', 'x', '--scope', 'admin');
    expect(scope.stderr).toMatch(/--scope <scope>.*admin.*invalid/);
    const days = await run(undefined, 'api-key', 'create', '--name', 'x', '--expires-in-days', '0');
    expect(days.stderr).toMatch(/--expires-in-days <days>.*must be a whole number/);
    const project = await run(undefined, 'api-key', 'create', '--name', 'x', '--project', n('nowhere'));
    expect(project.stderr).toMatch(/--project: no project named/);
    const limit = await run(api.key, 'audit', '--limit', '501');
    expect(limit.stderr).toMatch(/--limit <n>.*must be a whole number from 1 to 500/);
    const badName = await run(undefined, 'users', 'create', 'has space');
    expect(badName.stderr).toMatch(/<name>: "has space" must be/);

    // Without --user, as before tenancy: a new admin of `default`.
    const first = (await ok(undefined, 'api-key', 'create', '--name', n('first'))).stdout.trim();
    expect(JSON.parse((await ok(first, 'whoami', '--json')).stdout)).toMatchObject({ user: { name: n('first') }, projects: [{ name: 'default', role: 'admin' }] });
  });
});
