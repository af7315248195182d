// A real OpenID Connect provider (the `oidc-provider` package) on loopback, for the sign-in tests:
// one confidential client, accounts whose ID token / userinfo carry a roles claim, and its
// development login form (any password), which both a browser and `fetch` can fill in.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface OidcAccount {
  /** preferred_username */
  name: string;
  /** The roles claim's "project:role" values; undefined: the claim is not sent. */
  roles?: string[];
}

export interface RunningOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The API's settings for this provider (OIDC_* variables). */
  env: Record<string, string>;
  /** Adds or changes an account; the login form's `login` field is its id. */
  account(id: string, a: OidcAccount): void;
  close(): Promise<void>;
}

export const ROLES_CLAIM = 'capillary_roles';

/**
 * Starts the provider on a free loopback port; `redirectUrl` is the API's callback. The client
 * is first-party: its grant is made at login, so there is no consent page.
 */
export async function startOidcProvider(redirectUrl: string): Promise<RunningOidcProvider> {
  const accounts = new Map<string, OidcAccount>();
  const clientId = 'capillary-dashboard';
  const clientSecret = randomBytes(24).toString('base64url');
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUrl], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { openid: ['sub', ROLES_CLAIM], profile: ['name', 'preferred_username'] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    async findAccount(_ctx, id) {
      const a = accounts.get(id);
      if (!a) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: a.name, preferred_username: a.name, ...(a.roles ? { [ROLES_CLAIM]: a.roles } : {}) };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId });
      grant.addOIDCScope('openid profile');
      grant.addOIDCClaims([ROLES_CLAIM, 'name', 'preferred_username']);
      await grant.save();
      return grant;
    },
  });
  // Its development-only warnings are expected here.
  provider.on('server_error', (_ctx, err) => console.error('[oidc-provider]', err));
  server.on('request', provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    env: { OIDC_ISSUER: issuer, OIDC_CLIENT_ID: clientId, OIDC_CLIENT_SECRET: clientSecret, OIDC_REDIRECT_URL: redirectUrl, OIDC_ROLES_CLAIM: ROLES_CLAIM },
    account: (id, a) => void accounts.set(id, a),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A minimal cookie jar for `fetch`: name → value per origin; paths and expiry are left to the servers. */
export class CookieJar {
  private readonly byOrigin = new Map<string, Map<string, string>>();

  /** The Set-Cookie headers of `res`, for checking attributes. */
  store(url: string, res: Response): string[] {
    const set = res.headers.getSetCookie();
    const jar = this.jar(url);
    for (const line of set) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a) || /^\s*max-age=0\s*$/i.test(a));
      if (expired) jar.delete(name);
      else jar.set(name, pair.slice(eq + 1).trim());
    }
    return set;
  }

  header(url: string): string {
    return [...this.jar(url)].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(url: string, name: string): string | undefined {
    return this.jar(url).get(name);
  }

  private jar(url: string) {
    const origin = new URL(url).origin;
    let jar = this.byOrigin.get(origin);
    if (!jar) this.byOrigin.set(origin, (jar = new Map()));
    return jar;
  }
}

/**
 * A browser's trip through the sign-in, by hand: follows redirects from `startUrl` keeping each
 * origin's cookies, fills the provider's login form with `login` on the way, and stops at the
 * first answer that is not a redirect. Returns that answer and every Set-Cookie seen, by URL.
 */
export async function followSignIn(startUrl: string, login: string, jar = new CookieJar()): Promise<{ res: Response; url: string; setCookies: Array<{ url: string; cookies: string[] }> }> {
  const setCookies: Array<{ url: string; cookies: string[] }> = [];
  let url = startUrl;
  let init: RequestInit = { method: 'GET' };
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header(url) } });
    setCookies.push({ url, cookies: jar.store(url, res) });
    const location = res.headers.get('location');
    if (location && res.status >= 300 && res.status < 400) {
      url = new URL(location, url).href;
      init = { method: 'GET' };
      continue;
    }
    const html = res.headers.get('content-type')?.includes('text/html') ? await res.clone().text() : '';
    const form = /<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(html);
    if (form && /name="login"/.test(html)) {
      url = new URL(form[1], url).href;
      init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ prompt: 'login', login, password: 'any' }).toString() };
      continue;
    }
    return { res, url, setCookies };
  }
  throw new Error(`sign-in from ${startUrl} did not end within 20 requests (at ${url})`);
}

