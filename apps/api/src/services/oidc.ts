import * as oidc from 'openid-client';
import type { PrismaClient } from '@capillary/db';
import { ROLES, type Role } from '../auth/policy.ts';
import { HttpError } from './errors.ts';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  redirectUrl: string;
  scopes: string;
  rolesClaim: string;
  production: boolean;
}

/** What the browser keeps between the redirect to the issuer and its return (a signed cookie). */
export interface PendingLogin {
  state: string;
  verifier: string;
}

/** The issuer's word on who signed in. */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  /** preferred_username, else name, else email, else the subject. */
  name: string;
  /** project name → role; undefined when the issuer sent no roles claim. */
  roles: Map<string, Role> | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Single sign-on with openid-client: discovery, the authorization code flow with PKCE and state,
 * and the profile and roles claim read from the ID token and userinfo.
 */
export class OidcSignIn {
  private configuration: Promise<oidc.Configuration> | null = null;

  constructor(readonly settings: OidcSettings) {
    const url = new URL(settings.issuer);
    if (url.protocol === 'http:' && (settings.production || !LOOPBACK.has(url.hostname))) {
      throw new Error(`OIDC_ISSUER: ${settings.issuer} must be https (http only for an issuer on loopback, outside production)`);
    }
  }

  /** Discovered once, on the first sign-in (the issuer need not be up when the API starts); retried after a failure. */
  private config(): Promise<oidc.Configuration> {
    if (!this.configuration) {
      const { issuer, clientId, clientSecret } = this.settings;
      const url = new URL(issuer);
      const auth = clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None();
      this.configuration = oidc
        .discovery(url, clientId, clientSecret, auth, url.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined)
        .catch((e: Error) => {
          this.configuration = null;
          throw new HttpError(503, `oidc: the issuer ${issuer} did not answer its discovery request (${e.message})`);
        });
    }
    return this.configuration;
  }

  /** Where to send the browser, and what it must bring back. */
  async start(): Promise<{ url: string; pending: PendingLogin }> {
    const config = await this.config();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.settings.redirectUrl,
      scope: this.settings.scopes,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    return { url: url.href, pending: { state, verifier } };
  }

  /** Exchanges the code of the callback's query for tokens and reads who signed in; 401 for what the issuer refused. */
  async finish(query: string, pending: PendingLogin): Promise<OidcIdentity> {
    const config = await this.config();
    const current = new URL(this.settings.redirectUrl);
    current.search = query;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: pending.verifier, expectedState: pending.state });
      const claims = tokens.claims();
      if (!claims) throw new HttpError(401, 'oidc: the issuer returned no ID token');
      // Issuers differ in what they put in the ID token and what only in userinfo: read both.
      const info = config.serverMetadata().userinfo_endpoint ? await oidc.fetchUserInfo(config, tokens.access_token, claims.sub) : {};
      const profile: Record<string, unknown> = { ...info, ...claims };
      const rolesValue = profile[this.settings.rolesClaim];
      const name = [profile.preferred_username, profile.name, profile.email, claims.sub].find((v): v is string => typeof v === 'string' && v.trim() !== '')!;
      return { issuer: claims.iss, subject: claims.sub, name: name.trim(), roles: rolesValue === undefined ? undefined : parseRoles(rolesValue) };
    } catch (e) {
      if (e instanceof HttpError) throw e;
      if (e instanceof oidc.AuthorizationResponseError || e instanceof oidc.ResponseBodyError || e instanceof oidc.ClientError) {
        throw new HttpError(401, `oidc: sign-in refused: ${e.message}`);
      }
      throw e;
    }
  }
}

/**
 * `"project:role"` values (an array, or one string separated by spaces or commas) as project →
 * role; the highest role wins where a project is named twice, and unknown roles are left out.
 */
export function parseRoles(value: unknown): Map<string, Role> {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[\s,]+/) : [];
  const roles = new Map<string, Role>();
  for (const item of items) {
    if (typeof item !== 'string') continue;
    const at = item.lastIndexOf(':');
    const project = item.slice(0, at);
    const role = item.slice(at + 1) as Role;
    if (at <= 0 || !ROLES.includes(role)) continue;
    const had = roles.get(project);
    if (!had || ROLES.indexOf(role) > ROLES.indexOf(had)) roles.set(project, role);
  }
  return roles;
}

/**
 * The user the issuer vouched for, found by (issuer, subject) or created; with a roles claim,
 * their memberships become exactly its roles in projects that exist (the issuer is the source of
 * truth); without one, they stay as Capillary's admins set them. Null for a disabled user.
 */
export async function signInUser(db: PrismaClient, who: OidcIdentity): Promise<string | null> {
  return db.$transaction(async (tx) => {
    const key = { oidcIssuer_oidcSubject: { oidcIssuer: who.issuer, oidcSubject: who.subject } };
    let user = await tx.user.findUnique({ where: key, select: { id: true, disabledAt: true } });
    if (!user) {
      const base = who.name.replace(/[^A-Za-z0-9._@-]+/g, '-').slice(0, 64) || 'user';
      for (let n = 1; !user; n++) {
        const name = n === 1 ? base : `${base}-${n}`;
        if (await tx.user.findUnique({ where: { name }, select: { id: true } })) continue;
        user = await tx.user.create({ data: { name, oidcIssuer: who.issuer, oidcSubject: who.subject }, select: { id: true, disabledAt: true } });
      }
    }
    if (user.disabledAt) return null;
    const userId = user.id;
    const roles = who.roles;
    if (roles) {
      const projects = await tx.project.findMany({ where: { name: { in: [...roles.keys()] } }, select: { id: true, name: true } });
      await tx.membership.deleteMany({ where: { userId } });
      await tx.membership.createMany({ data: projects.map((p) => ({ userId, projectId: p.id, role: roles.get(p.name)! })) });
    }
    return userId;
  });
}
