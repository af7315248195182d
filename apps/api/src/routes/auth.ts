import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Principal } from '../auth/policy.ts';
import { HttpError } from '../services/errors.ts';
import { OidcSignIn, signInUser, type OidcSettings, type PendingLogin } from '../services/oidc.ts';
import { SESSION_COOKIE, sessionUserId } from '../plugins/app/session.ts';

const Closed = { additionalProperties: false } as const;
const Role = Type.Enum(['viewer', 'member', 'admin']);
const SessionInfo = Type.Object({
  user: Type.Object({ id: Type.String(), name: Type.String(), operator: Type.Boolean() }, Closed),
  via: Type.Enum(['session', 'key'], { description: 'session: the dashboard cookie; key: this request\'s Authorization header' }),
  projects: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), role: Role }, Closed), { description: 'Projects the user (or the key) acts in, by name' }),
  csrfToken: Type.Optional(Type.String({ description: 'Send as x-csrf-token on every mutating request signed in by the session cookie' })),
}, Closed);
export const SignInBody = Type.Object({ key: Type.String({ minLength: 1, maxLength: 200 }) }, Closed);
const AuthConfig = Type.Object({
  oidc: Type.Boolean({ description: 'Single sign-on is configured: GET /auth/oidc/login starts it' }),
  authReads: Type.Enum(['required', 'open'], { description: 'open: reads need no sign-in (demos)' }),
}, Closed);
const Redirect = Type.Null({ description: 'A redirect (Location header)' });

/** The browser's half of an OIDC sign-in in progress: signed, short-lived, sent back only to the callback. */
const PENDING_COOKIE = 'capillary_oidc';
const PENDING_PATH = '/auth/oidc';
const PENDING_MAX_AGE_S = 600;

export interface AuthRouteOptions {
  /** Set: single sign-on is offered. */
  oidc: OidcSettings | null;
  authReads: 'required' | 'open';
  /** Cookies are Secure (the dashboard is served over https). */
  secure: boolean;
}

function sessionInfo(p: Principal, csrfToken?: string) {
  const projects = [...p.roles].map(([id, role]) => ({ id, name: p.projectNames.get(id)!, role })).sort((a, b) => a.name.localeCompare(b.name));
  return {
    user: { id: p.userId!, name: p.userName!, operator: p.operator },
    via: p.via === 'key' ? ('key' as const) : ('session' as const),
    projects,
    ...(csrfToken ? { csrfToken } : {}),
  };
}

/** A fresh session id for the user who just signed in: a session id known before sign-in is worth nothing after it. */
async function startSession(req: FastifyRequest, userId: string) {
  await req.session.regenerate();
  req.session.set('userId', userId);
}

/**
 * Signing in to the dashboard: an API key, or single sign-on with OIDC, exchanged for the session
 * cookie (plugins/app/session.ts); who is signed in, with their projects, roles and CSRF token;
 * signing out.
 */
export default async function authRoutes(fastify: FastifyInstance, opts: AuthRouteOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const sso = opts.oidc ? new OidcSignIn(opts.oidc) : null;

  app.get('/auth/config', {
    schema: { summary: 'How to sign in: whether single sign-on is offered and whether reads need it', response: { 200: AuthConfig } },
    config: { action: 'public' },
  }, async () => ({ oidc: sso !== null, authReads: opts.authReads }));

  app.post('/auth/session', {
    schema: {
      summary: 'Sign in with an API key: starts a dashboard session (httpOnly cookie) for the key\'s user',
      body: SignInBody,
      response: { 200: SessionInfo },
    },
    config: { action: 'public' },
  }, async (req, reply) => {
    const found = await app.apiKeys.principal(req.body.key);
    if (typeof found === 'string') throw new HttpError(401, `body/key: the API key is ${found === 'unknown' ? 'not valid' : found === 'disabled' ? "of a disabled user" : found}`);
    // A session acts with all the user's roles: a key limited to less must not open one.
    if (found.scope === 'read' || found.keyProjectId) {
      throw new HttpError(403, `key: a ${found.scope === 'read' ? 'read-only' : 'project-limited'} key cannot sign in to the dashboard; use a key without limits`);
    }
    await startSession(req, found.userId!);
    // The audit log records who signed in.
    req.principal = found;
    const session = await app.apiKeys.userPrincipal(found.userId!);
    return sessionInfo(session!, reply.generateCsrf());
  });

  app.get('/auth/session', {
    schema: { summary: 'Who is signed in: the user, their projects with roles, and the CSRF token of the session', response: { 200: SessionInfo } },
    config: { action: 'self' },
  }, async (req, reply) => {
    const p = req.principal!;
    return sessionInfo(p, p.via === 'session' ? reply.generateCsrf() : undefined);
  });

  app.delete('/auth/session', {
    schema: { summary: 'Sign out: ends the dashboard session', response: { 204: Type.Null() } },
    config: { action: 'self' },
  }, async (req, reply) => {
    if (sessionUserId(req) !== undefined) await req.session.destroy();
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.status(204).send(null);
  });

  const ssoOrThrow = () => {
    if (!sso) throw new HttpError(404, 'oidc: single sign-on is not configured on this API (OIDC_ISSUER)');
    return sso;
  };

  app.get('/auth/oidc/login', {
    schema: { summary: 'Single sign-on: redirects to the OIDC issuer (authorization code flow with PKCE)', response: { 302: Redirect } },
    config: { action: 'public' },
  }, async (_req, reply) => {
    const { url, pending } = await ssoOrThrow().start();
    // SameSite=Lax, not Strict: the issuer sends the browser back with a cross-site navigation.
    reply.setCookie(PENDING_COOKIE, JSON.stringify(pending), { signed: true, httpOnly: true, sameSite: 'lax', secure: opts.secure, path: PENDING_PATH, maxAge: PENDING_MAX_AGE_S });
    return reply.redirect(url, 302);
  });

  app.get('/auth/oidc/callback', {
    schema: {
      summary: 'Single sign-on: the issuer\'s redirect back; signs the user in and redirects to the dashboard',
      querystring: Type.Object({
        code: Type.Optional(Type.String({ maxLength: 4096 })),
        state: Type.Optional(Type.String({ maxLength: 1024 })),
        error: Type.Optional(Type.String({ maxLength: 1024 })),
      }, { additionalProperties: true }),
      response: { 302: Redirect },
    },
    config: { action: 'public' },
  }, async (req, reply) => {
    const flow = ssoOrThrow();
    const pending = pendingLogin(req, reply);
    const query = req.url.indexOf('?');
    const who = await flow.finish(query < 0 ? '' : req.url.slice(query), pending);
    const userId = await signInUser(app.db, who);
    // Its memberships may have just changed: no remembered roles of it may outlive that.
    app.apiKeys.forget();
    if (!userId) throw new HttpError(403, `oidc: the user ${who.name} is disabled`);
    await startSession(req, userId);
    return reply.redirect('/', 302);
  });
}

/** The sign-in this browser started, from its signed cookie, which is used up here. */
function pendingLogin(req: FastifyRequest, reply: FastifyReply): PendingLogin {
  const raw = req.cookies[PENDING_COOKIE];
  reply.clearCookie(PENDING_COOKIE, { path: PENDING_PATH });
  const unsigned = raw ? req.unsignCookie(raw) : null;
  if (unsigned?.valid && unsigned.value) {
    try {
      const p = JSON.parse(unsigned.value) as Partial<PendingLogin>;
      if (typeof p.state === 'string' && typeof p.verifier === 'string') return { state: p.state, verifier: p.verifier };
    } catch {
      /* refused below */
    }
  }
  throw new HttpError(400, `${PENDING_COOKIE}: no sign-in was started in this browser, or it took over ${PENDING_MAX_AGE_S / 60} minutes; start again at ${PENDING_PATH}/login`);
}
