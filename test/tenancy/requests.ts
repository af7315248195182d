// Every route of the OpenAPI document as a request the tenancy tests can send: its policy action
// (as the route's requests see it), and its path, query and body filled from a project's rows.
import SwaggerParser from '@apidevtools/swagger-parser';
import fc from 'fast-check';
import { ACTIONS, isProjectAction, type ProjectAction, type ResourceKind } from '@capillary/api';
import { valid } from '../fuzz/schema-arbitrary.ts';
import { tinySpec } from '../harness.ts';
import type { ProjectRows, TenancyApi } from './world.ts';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

interface Parameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema: object;
}

export interface DocumentedRoute {
  method: string;
  /** As in the OpenAPI document: `/experiments/{id}`. */
  path: string;
  /** As Fastify names it: `/experiments/:id`. */
  url: string;
  /** The route's `config.action`, as its requests see it; undefined when it names none. */
  action: unknown;
  parameters: Parameter[];
  body?: object;
}

/** The route's action when it is one of a project's (ACTIONS), else null. */
export const projectAction = (route: DocumentedRoute): ProjectAction | null => (typeof route.action === 'string' && isProjectAction(route.action) ? route.action : null);

/** A value of a schema, the same for every run of the tests. */
const sample = (schema: object, seed: number) => fc.sample(valid(schema as never), { numRuns: 1, seed })[0];

/**
 * The routes of the API's OpenAPI document, each with the policy action it runs with: one request
 * per route (no credentials, placeholder parameters) reaches the recording hook of
 * `startTenancyApi`, which reads the route's config before anything else runs.
 */
export async function documentedRoutes(api: TenancyApi): Promise<DocumentedRoute[]> {
  await api.app.ready();
  const doc = (await SwaggerParser.dereference(structuredClone(api.app.swagger()) as never)) as unknown as { paths: Record<string, Record<string, any>> };
  const routes: DocumentedRoute[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      if (!METHODS.includes(m)) continue;
      const method = m.toUpperCase();
      const url = path.replace(/\{(\w+)\}/g, ':$1');
      await api.app.inject({ method: method as 'GET', url: path.replace(/\{(\w+)\}/g, '0') });
      routes.push({
        method,
        path,
        url,
        action: api.actions.get(`${method} ${url}`),
        parameters: (op.parameters ?? []) as Parameter[],
        body: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return routes;
}

/** Bodies that pass the route's schema and are refused by the handler, or change nothing, when allowed. */
function knownBody(route: DocumentedRoute, rows: ProjectRows): unknown {
  const missing = `${rows.project.name}-no-such-dataset`;
  switch (`${route.method} ${route.path}`) {
    case 'POST /experiments':
      return tinySpec(missing);
    case 'POST /sweeps':
      return { name: 'policy-probe', base: tinySpec(missing), grid: { seed: [1, 2] } };
    case 'POST /sweeps/{id}/extend':
      return { trials: 1 };
    case 'POST /experiments/{id}/predictions':
      return { dataset: rows.dataset.name };
    case 'POST /datasets/{name}/volumes':
      return { name: 'policy-probe', imageKey: `${rows.project.name}/no-such-array` };
    // Names of this run's own, so what an allowed caller creates is nobody else's.
    case 'POST /users':
      return { name: `${rows.project.name}-made-user` };
    case 'POST /projects':
      return { name: `${rows.project.name}-made-project` };
    // The default it already has: an allowed caller changes nothing.
    case 'PATCH /projects/{project}':
      return { sweepMaxConcurrent: null };
    case 'POST /keys':
      return { name: 'policy-probe' };
    // Refused by the handler (not http): no probe leaves an endpoint that runs would be posted to.
    case 'POST /webhooks':
      return { url: 'ftp://policy-probe.invalid/', events: ['sweep.finished'] };
    default:
      return undefined;
  }
}

const KNOWN_QUERY: Record<string, Record<string, string>> = {
  'GET /volumes/{id}/slices/{axis}/{index}': { layer: 'image' },
  'GET /volumes/{id}/volume3d': { layer: 'label', size: '16' },
};

const ROW_OF_KIND: Partial<Record<ResourceKind, (r: ProjectRows) => string>> = {
  experiment: (r) => r.experimentId,
  sweep: (r) => r.sweepId,
  prediction: (r) => r.predictionId,
  volume: (r) => r.volumeId,
  webhook: (r) => r.webhookId,
};

export interface FilledRequest {
  path: string;
  body?: unknown;
  /** Every path parameter names one of the project's rows: an allowed request finds it. */
  fixtured: boolean;
}

/**
 * The request for `route` against a project's rows: `:id` is the row of the kind the action acts
 * on, `:name` the dataset, `:project` the project; anything else is a value of its schema.
 */
export function fillRequest(route: DocumentedRoute, rows: ProjectRows): FilledRequest {
  const action = projectAction(route);
  const kind = action ? ACTIONS[action].resource : null;
  let fixtured = true;
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const param = route.parameters.find((p) => p.in === 'path' && p.name === name);
    let value: string | undefined;
    // Deleting an endpoint is the one allowed DELETE that is not refused: it gets a row of its own,
    // so the reads of the other routes still find theirs.
    if (name === 'id' && kind === 'webhook' && route.method === 'DELETE') value = rows.spareWebhookId;
    else if (name === 'id' && kind) value = ROW_OF_KIND[kind]?.(rows);
    else if (name === 'name' && kind === 'dataset') value = rows.dataset.name;
    else if (name === 'project') value = rows.project.name;
    else if (name === 'axis') value = 'xy';
    else if (name === 'index') value = '0';
    if (name === 'user') {
      // A user of no project: what an allowed caller changes is nobody's membership.
      fixtured = false;
      value = `${rows.project.name}-nobody`;
    }
    if (value === undefined) {
      fixtured = false;
      value = param ? String(sample(param.schema, 1)) : '0';
    }
    return encodeURIComponent(value);
  });
  const key = `${route.method} ${route.path}`;
  const query = new URLSearchParams(KNOWN_QUERY[key] ?? Object.fromEntries(route.parameters.filter((p) => p.in === 'query' && p.required).map((p) => [p.name, String(sample(p.schema, 2))])));
  const q = query.toString();
  const body = knownBody(route, rows) ?? (route.body ? sample(route.body, 3) : undefined);
  return { path: q ? `${path}?${q}` : path, body, fixtured };
}
