// Issue 24, acceptance 1: generated from the OpenAPI document, every route against every kind of
// caller gets the status the policy table (src/auth/policy.ts) says. A route that names no action
// of the table fails here (and the API refuses to start with one that names none at all).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS, isAction, type Role } from '@capillary/api';
import { PROJECT_HEADER, buildWorld, startTenancyApi, type World } from './world.ts';
import { documentedRoutes, fillRequest, projectAction, type DocumentedRoute } from './requests.ts';

interface Caller {
  label: string;
  credential(w: World, metricsToken: string): string | null;
  /** Role in project A, where every fixture lives; null: none. */
  role: Role | null;
  /** Made the row the route acts on (A's rows are all the creator's). */
  creator?: boolean;
  scope?: 'read' | 'write';
  operator?: boolean;
  /** The credential is a live key of a user. */
  signedIn: boolean;
  /** The credential is METRICS_TOKEN. */
  metrics?: boolean;
}

const CALLERS: Caller[] = [
  { label: 'project admin', credential: (w) => w.people.admin.key, role: 'admin', signedIn: true },
  { label: "the resource's creator (member)", credential: (w) => w.people.creator.key, role: 'member', creator: true, signedIn: true },
  { label: 'another member', credential: (w) => w.people.member.key, role: 'member', signedIn: true },
  { label: 'viewer', credential: (w) => w.people.viewer.key, role: 'viewer', signedIn: true },
  { label: 'member of another project', credential: (w) => w.people.creatorB.key, role: null, signedIn: true },
  { label: 'operator of no project', credential: (w) => w.people.operator.key, role: null, operator: true, signedIn: true },
  { label: "read-scoped key of the admin", credential: (w) => w.staleKeys.read, role: 'admin', scope: 'read', signedIn: true },
  { label: 'no key', credential: () => null, role: null, signedIn: false },
  { label: 'revoked key', credential: (w) => w.staleKeys.revoked, role: null, signedIn: false },
  { label: 'expired key', credential: (w) => w.staleKeys.expired, role: null, signedIn: false },
  { label: 'METRICS_TOKEN as the bearer', credential: (_, token) => token, role: null, signedIn: false, metrics: true },
];

/**
 * A refusal (401, 403, 404); `pass`: anything but a refusal (the body may still be a 400/409);
 * `open`: the policy looks at no credential, so every caller gets what a caller without one gets.
 */
type Outcome = 401 | 403 | 404 | 'pass' | 'open' | 'no policy entry';

/** What the policy table says, read from the table itself (not through `can`). */
function expected(route: DocumentedRoute, c: Caller): Outcome {
  const { action } = route;
  if (!isAction(action)) return 'no policy entry';
  if (action === 'public') return 'open';
  if (action === 'metrics') return c.metrics ? 'pass' : 401;
  if (!c.signedIn) return 401;
  // "read: GET routes only" (the key's scope, as the API documents it), project or not.
  const writes = route.method !== 'GET';
  if (action === 'self') return writes && c.scope === 'read' ? 403 : 'pass';
  if (action === 'operator') return c.operator && !(writes && c.scope === 'read') ? 'pass' : 403;
  const rule = ACTIONS[action];
  if (!c.role) return 404;
  if (rule.write && c.scope === 'read') return 403;
  const reach = (rule.roles as Partial<Record<Role, 'own' | 'any'>>)[c.role];
  if (!reach) return 403;
  // A `project` is nobody's: `own` there allows no one.
  if (reach === 'own' && !(c.creator && rule.resource !== 'project')) return 403;
  return 'pass';
}

const api = await startTenancyApi();
const routes: DocumentedRoute[] = await documentedRoutes(api);
const name = (r: DocumentedRoute) => `${r.method} ${r.path}`;

describe('the policy, route by route and caller by caller', () => {
  let world: World;
  beforeAll(async () => {
    world = await buildWorld(api, 'matrix');
  });
  afterAll(async () => {
    await api.close();
  });

  it('the OpenAPI document lists the routes', () => {
    expect(routes.map(name)).toEqual(expect.arrayContaining(['GET /experiments', 'DELETE /experiments/{id}', 'POST /sweeps/{id}/close', 'GET /metrics', 'GET /health']));
  });

  describe.each(routes.map((r) => [name(r), String(r.action), r] as const))('%s [%s]', (_, __, route) => {
    it('names an action of the policy table', () => {
      expect(isAction(route.action), `${name(route)} names ${JSON.stringify(route.action)}: add it to ACTIONS or GLOBAL_ACTIONS`).toBe(true);
      // A project action's `write` decides the scope a key needs: it must be the method's.
      const action = projectAction(route);
      if (action) expect(ACTIONS[action].write, `${name(route)}: ${action}.write`).toBe(route.method !== 'GET');
    });

    it.each(CALLERS.map((c) => [c.label, String(expected(route, c)), c] as const))('%s -> %s', async (_, __, caller) => {
      const want = expected(route, caller);
      expect(want, `${name(route)} has no policy entry`).not.toBe('no policy entry');
      const req = fillRequest(route, world.A);
      const res = await api.send(route.method, req.path, { key: caller.credential(world, api.metricsToken), headers: { [PROJECT_HEADER]: world.A.project.name }, body: req.body });
      const why = `${route.method} ${req.path} as ${caller.label}: ${res.status} ${res.text.slice(0, 300)}`;
      expect(res.status, why).toBeLessThan(500);
      if (want === 'open') {
        const anonymous = await api.send(route.method, req.path, { headers: { [PROJECT_HEADER]: world.A.project.name }, body: req.body });
        expect(res.status, why).toBe(anonymous.status);
      } else if (want === 'pass') {
        // A 404 of the handler is fine only where no fixture names the row (an unknown :id).
        const refusals = req.fixtured ? [401, 403, 404] : [401, 403];
        expect(refusals, why).not.toContain(res.status);
      } else {
        expect(res.status, why).toBe(want);
      }
    });
  });
});
