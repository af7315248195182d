// Who is signed in. The API keeps the session (an httpOnly cookie this code never sees); the page
// keeps in memory what GET /auth/session says: the user, their projects and roles, and the CSRF
// token mutating requests send. Only the chosen project's name is remembered across reloads.
import { useEffect, useState } from 'preact/hooks';

export type Role = 'viewer' | 'member' | 'admin';

export interface SessionProject {
  id: string;
  name: string;
  role: Role;
}

export interface SignedIn {
  user: { id: string; name: string; operator: boolean };
  via: 'session' | 'key';
  projects: SessionProject[];
  csrfToken?: string;
}

export interface AuthConfig {
  oidc: boolean;
  authReads: 'required' | 'open';
}

export interface SessionState {
  /** False until the first answer of GET /auth/session. */
  known: boolean;
  me: SignedIn | null;
  config: AuthConfig | null;
  /** The project the pages show and act in (sent as x-capillary-project). */
  project: string | null;
  /** Set when an action needed a sign-in the reader did not have (AUTH_READS=open). */
  signInReason: string | null;
}

/** Not a secret: which of the user's projects was last chosen. */
const PROJECT_KEY = 'capillary.project';
export const PROJECT_HEADER = 'x-capillary-project';
export const CSRF_HEADER = 'x-csrf-token';

const remembered = (): string | null => {
  try {
    return localStorage.getItem(PROJECT_KEY);
  } catch {
    return null;
  }
};

let state: SessionState = { known: false, me: null, config: null, project: remembered(), signInReason: null };
const listeners = new Set<(s: SessionState) => void>();

function update(change: Partial<SessionState>) {
  state = { ...state, ...change };
  for (const l of listeners) l(state);
}

export const session = (): SessionState => state;

/** Re-renders on every change of the session. */
export function useSession(): SessionState {
  const [s, setS] = useState(state);
  useEffect(() => {
    listeners.add(setS);
    setS(state);
    return () => void listeners.delete(setS);
  }, []);
  return s;
}

/** The remembered project when the user is still in it, else `default`, else their first. */
function chooseProject(me: SignedIn, wanted: string | null): string | null {
  const names = me.projects.map((p) => p.name);
  return wanted && names.includes(wanted) ? wanted : names.includes('default') ? 'default' : (names[0] ?? null);
}

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

function signedIn(me: SignedIn) {
  update({ known: true, me, project: chooseProject(me, state.project), signInReason: null });
}

/** Asks the API who is signed in (and how one signs in); called once as the app starts. */
export async function loadSession(): Promise<void> {
  const [config, res] = await Promise.all([
    fetch('/auth/config').then((r) => json<AuthConfig>(r)).catch(() => null),
    fetch('/auth/session').catch(() => null),
  ]);
  update({ config });
  if (res?.ok) signedIn(await json<SignedIn>(res));
  else update({ known: true, me: null });
}

/** Exchanges an API key for the session cookie; the key itself is not kept anywhere. Throws the API's message. */
export async function signInWithKey(key: string): Promise<void> {
  const res = await fetch('/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: key.trim() }) });
  const body = await json<SignedIn & { message?: string }>(res);
  if (!res.ok) throw new Error(body?.message ?? `signing in failed (${res.status})`);
  signedIn(body);
}

export async function signOut(): Promise<void> {
  await fetch('/auth/session', { method: 'DELETE', headers: state.me?.csrfToken ? { [CSRF_HEADER]: state.me.csrfToken } : {} }).catch(() => {});
  update({ me: null, signInReason: null });
}

/** Shows the sign-in form: the API refused the session (expired, signed out elsewhere), or an action needs one. */
export function askToSignIn(reason: string): void {
  update({ me: null, signInReason: reason });
}

export function chooseProjectByName(name: string): void {
  try {
    localStorage.setItem(PROJECT_KEY, name);
  } catch {
    /* private mode: the choice lasts this page only */
  }
  update({ project: name });
}

/** The signed-in user's role in the chosen project; anonymous readers (AUTH_READS=open) are viewers. */
export function roleOf(s: SessionState): Role | null {
  if (!s.me) return s.config?.authReads === 'open' ? 'viewer' : null;
  return s.me.projects.find((p) => p.name === s.project)?.role ?? null;
}

/**
 * What the role lets the dashboard offer (the API decides in the end, by its policy table):
 * members queue runs and act on their own; admins act on everything and close sweeps.
 */
export function allowed(s: SessionState) {
  const role = roleOf(s);
  const member = role === 'member' || role === 'admin';
  return { create: member, act: member, close: role === 'admin' };
}

/** The role's permissions, kept current. */
export const useAllowed = () => allowed(useSession());
