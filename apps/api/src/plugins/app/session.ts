import { randomBytes } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import session, { type FastifySessionOptions } from '@fastify/session';
import csrf from '@fastify/csrf-protection';
import RedisStore from 'connect-redis';
import { SESSION_PREFIX } from '@capillary/queue';
import { HttpError } from '../../services/errors.ts';

declare module 'fastify' {
  interface Session {
    /** The signed-in user; the only thing a session holds besides its CSRF secret. */
    userId?: string;
  }
}

/** Name of the dashboard's session cookie. */
export const SESSION_COOKIE = 'capillary_session';
/** The header a session-authenticated mutating request carries its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionOptions {
  /** SESSION_SECRET; unset outside production: a random one for this process. */
  secret: string | undefined;
  production: boolean;
  ttlSeconds: number;
  /** The cookie is Secure: the dashboard is served over https (PUBLIC_URL). */
  secure: boolean;
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The dashboard's sessions: an httpOnly, SameSite=Strict cookie naming a session kept in Redis,
 * so every API replica knows it, and a CSRF token (@fastify/csrf-protection, its secret in the
 * session) on every mutating request the cookie authenticates. Requests with an API key
 * (Authorization header) are not authenticated by the cookie and need no token.
 */
export default fp<SessionOptions>(async (app, opts) => {
  const secret = sessionSecret(opts);
  await app.register(cookie, { secret });
  await app.register(session, {
    secret,
    cookieName: SESSION_COOKIE,
    store: new RedisStore({ client: app.redis, prefix: SESSION_PREFIX, ttl: opts.ttlSeconds }) as unknown as FastifySessionOptions['store'],
    // No session (and no Redis write) until someone signs in.
    saveUninitialized: false,
    // A fixed lifetime from sign-in: no Redis write on every request the dashboard makes.
    rolling: false,
    cookie: { httpOnly: true, sameSite: 'strict', secure: opts.secure, path: '/', maxAge: opts.ttlSeconds * 1000 },
  });
  await app.register(csrf, {
    sessionPlugin: '@fastify/session',
    getToken: (req: FastifyRequest) => {
      const token = req.headers[CSRF_HEADER];
      return typeof token === 'string' ? token : undefined;
    },
  });

  // preValidation, registered before the auth plugin's: a forged request is refused before anything
  // else looks at it. Public routes (signing in) are not authenticated by the cookie.
  app.addHook('preValidation', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (READS.has(req.method) || req.headers.authorization !== undefined || req.routeOptions.config.action === 'public') return done();
    if (typeof sessionUserId(req) !== 'string') return done();
    if (typeof req.headers[CSRF_HEADER] !== 'string') {
      return done(new HttpError(403, `${CSRF_HEADER}: a request signed in by the session cookie must send the CSRF token GET /auth/session gives`));
    }
    app.csrfProtection(req, reply, done);
  });
}, { name: 'session', dependencies: ['services'] });

/**
 * SESSION_SECRET, or outside production a random secret for this process. A default shared by
 * every installation would let anyone forge cookies, and replicas must share one secret: so
 * production must name it.
 */
export function sessionSecret(opts: Pick<SessionOptions, 'secret' | 'production'>): string {
  if (opts.secret) return opts.secret;
  if (opts.production) throw new Error('SESSION_SECRET: required when NODE_ENV=production (32 or more random characters, the same on every API replica)');
  return randomBytes(32).toString('base64url');
}

/** The signed-in user of the request's session, if any. */
export function sessionUserId(req: FastifyRequest): string | undefined {
  // Null after sign-out in this request; an empty object on paths outside the cookie's.
  const s = req.session as Partial<typeof req.session> | null;
  return typeof s?.get === 'function' ? s.get('userId') : undefined;
}
