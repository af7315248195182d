import { timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { ACTIONS, PUBLIC_ROUTE_PREFIXES, can, forbiddenReason, isAction, isProjectAction, type Action, type Principal } from '../../auth/policy.ts';
import { TargetResolver, type Project } from '../../auth/targets.ts';
import { HttpError } from '../../services/errors.ts';
import type { KeyRefusal } from '../../services/api-keys.ts';
import { sessionUserId } from './session.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The policy action this route performs (src/auth/policy.ts); every route names one. */
    action?: Action;
  }
  interface FastifyInstance {
    /** The request's principal from its key or session, looked up once; a refusal for a bad key; null for none. */
    principalOf: (req: FastifyRequest) => Promise<Principal | KeyRefusal | null>;
    targets: TargetResolver;
  }
  interface FastifyRequest {
    /** Set before the handler on every route but `public` and `metrics` ones. */
    principal: Principal | null;
    /** The project the request acts in (its resource's, or the current one for lists and creations). */
    project: Project | null;
  }
}

export interface AuthOptions {
  /** `open`: callers without credentials may read (demos). */
  authReads: 'required' | 'open';
  metricsToken?: string;
}

const BEARER = /^Bearer\s+(\S+)$/i;
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const IDENTITY_ACTIONS = new Set<Action>(['self', 'operator', 'member.manage', 'key.manage']);
const REFUSED: Record<KeyRefusal, string> = {
  unknown: 'authorization: the API key is not valid',
  revoked: 'authorization: the API key was revoked',
  expired: 'authorization: the API key has expired',
  disabled: 'authorization: the user of this API key is disabled',
};
const ANONYMOUS: Principal = { via: 'anonymous', userId: null, userName: null, operator: false, keyId: null, scope: 'read', keyProjectId: null, roles: new Map(), projectNames: new Map() };

const sameSecret = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * Authentication and authorisation, decided here for every route: preValidation finds the
 * principal (401 without one), preHandler resolves the route's action's resource and asks
 * `can` (404 for another project's, 403 for a role that may not). A route without an action
 * fails at start-up.
 */
export default fp<AuthOptions>(async (app, opts) => {
  // The rate limiter (onRequest) and authentication (preValidation) both ask: one lookup serves both.
  const lookups = new WeakMap<FastifyRequest, Promise<Principal | KeyRefusal | null>>();
  app.decorateRequest('principal', null);
  app.decorateRequest('project', null);
  app.decorate('targets', new TargetResolver(app.db));
  app.decorate('principalOf', (req: FastifyRequest) => {
    let lookup = lookups.get(req);
    if (!lookup) {
      lookup = lookupPrincipal(req);
      lookups.set(req, lookup);
    }
    return lookup;
  });

  async function lookupPrincipal(req: FastifyRequest): Promise<Principal | KeyRefusal | null> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = BEARER.exec(header);
      return m ? app.apiKeys.principal(m[1]) : 'unknown';
    }
    // The dashboard's session (plugins/app/session.ts), when the request carries its cookie.
    const userId = sessionUserId(req);
    return typeof userId === 'string' ? app.apiKeys.userPrincipal(userId) : null;
  }

  app.addHook('onRoute', (route) => {
    if (route.config?.action === undefined && PUBLIC_ROUTE_PREFIXES.some((p) => route.url.startsWith(p))) {
      route.config = { ...route.config, action: 'public' };
    }
    if (!isAction(route.config?.action)) {
      throw new Error(`route ${route.method} ${route.url} names no policy action (config.action, see src/auth/policy.ts)`);
    }
  });

  app.addHook('preValidation', async (req) => {
    const action = req.routeOptions.config.action!;
    if (action === 'public') return;
    if (action === 'metrics') return checkMetricsToken(req);
    const found = await app.principalOf(req);
    if (typeof found === 'string') throw new HttpError(401, REFUSED[found]);
    if (found) {
      req.principal = found;
      return;
    }
    const readOnly = isProjectAction(action) && !ACTIONS[action].write;
    if (opts.authReads === 'open' && readOnly) {
      req.principal = ANONYMOUS;
      return;
    }
    throw new HttpError(401, 'authorization: sign in, or send an API key (Authorization: Bearer <key>)');
  });

  app.addHook('preHandler', async (req) => {
    const action = req.routeOptions.config.action!;
    const principal = req.principal;
    if (!principal || !isProjectAction(action)) {
      if (action === 'operator' && !principal?.operator) throw new HttpError(403, 'operator: only an operator manages users and projects');
      // A read-only key changes nothing, its own keys and the users and projects included.
      if (principal?.scope === 'read' && !READ_METHODS.has(req.method)) throw new HttpError(403, `${action}: this API key is read-only (scope read)`);
      return;
    }
    const kind = ACTIONS[action].resource;
    const params = req.params as Record<string, string>;
    const target = await app.targets.resolve(kind, principal, params, req.headers);
    const decision = can(principal, action, target);
    // Known before the verdict, so a refused request is audited in the project it was refused in.
    if (decision !== 'hidden') req.project = target.project;
    // Word for word the answer for an id of no row: another project's ids reveal nothing.
    if (decision === 'hidden') throw new HttpError(404, `${kind} ${params.id ?? params.name ?? target.project.name} not found`);
    if (decision === 'forbidden') throw new HttpError(403, forbiddenReason(principal, action, target));
  });

  // Keys, users and memberships change only through these actions: once one succeeded, this
  // replica forgets the principals it remembered (ApiKeyService), before the answer leaves.
  app.addHook('onSend', async (req, reply) => {
    const action = req.routeOptions.config.action;
    if (!READ_METHODS.has(req.method) && reply.statusCode < 400 && action && IDENTITY_ACTIONS.has(action)) app.apiKeys.forget();
  });

  function checkMetricsToken(req: FastifyRequest) {
    if (!opts.metricsToken) {
      if (opts.authReads === 'open') return;
      throw new HttpError(401, 'authorization: /metrics needs METRICS_TOKEN set on the API and sent as Authorization: Bearer <token>');
    }
    const m = BEARER.exec(req.headers.authorization ?? '');
    if (!m || !sameSecret(m[1], opts.metricsToken)) throw new HttpError(401, 'authorization: /metrics needs the METRICS_TOKEN bearer token');
  }
}, { name: 'auth', dependencies: ['services'] });
