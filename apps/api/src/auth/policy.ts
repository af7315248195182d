/**
 * Who may do what: one table of actions by project role, the way `TRANSITIONS` is one table of
 * states. Every route names one action (its `config.action`); the auth plugin resolves the
 * action's resource and asks `can`. No route checks a role itself.
 */

/** The project rows made before tenancy moved to (prisma/migrations/…_tenancy), and anonymous readers read. */
export const DEFAULT_PROJECT = 'default';

export const ROLES = ['viewer', 'member', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export type KeyScope = 'read' | 'write';

/** `own`: only on resources the principal created; `any`: on every one of the project's. */
export type Reach = 'own' | 'any';

/**
 * What an action acts on. The route's `:id` names an experiment, sweep, prediction, volume or webhook endpoint;
 * `dataset` is the route's `:name` (the request's project when no such dataset exists yet);
 * `project` is the request's project (the `:project` parameter, else the `x-capillary-project`
 * header, else the key's or the user's one project).
 */
export type ResourceKind = 'project' | 'dataset' | 'experiment' | 'sweep' | 'prediction' | 'volume' | 'webhook';

export interface ActionRule {
  resource: ResourceKind;
  /** Writes need a write-scoped key, a CSRF token on a session, and are audited. */
  write: boolean;
  roles: Partial<Record<Role, Reach>>;
  /** One line for docs/security.md and the 403 message. */
  what: string;
}

const READ = { viewer: 'any', member: 'any', admin: 'any' } as const;
const CREATE = { member: 'any', admin: 'any' } as const;
const OWN = { member: 'own', admin: 'any' } as const;
const ADMIN = { admin: 'any' } as const;

export const ACTIONS = {
  'experiment.list': { resource: 'project', write: false, roles: READ, what: 'list experiments and the leaderboard' },
  'experiment.read': { resource: 'experiment', write: false, roles: READ, what: 'read an experiment, its events and predictions' },
  'experiment.create': { resource: 'project', write: true, roles: CREATE, what: 'queue an experiment' },
  'experiment.cancel': { resource: 'experiment', write: true, roles: OWN, what: 'cancel an experiment' },
  'experiment.close': { resource: 'experiment', write: true, roles: ADMIN, what: "close a lone experiment, revealing its private score" },
  'sweep.list': { resource: 'project', write: false, roles: READ, what: 'list sweeps' },
  'sweep.read': { resource: 'sweep', write: false, roles: READ, what: 'read a sweep' },
  'sweep.create': { resource: 'project', write: true, roles: CREATE, what: 'queue a sweep' },
  'sweep.extend': { resource: 'sweep', write: true, roles: OWN, what: 'add trials to a sweep' },
  'sweep.rerun': { resource: 'sweep', write: true, roles: OWN, what: "re-queue a sweep's failed runs" },
  'sweep.close': { resource: 'sweep', write: true, roles: ADMIN, what: 'close a sweep, revealing its private scores' },
  'prediction.create': { resource: 'experiment', write: true, roles: CREATE, what: "predict a dataset with an experiment's checkpoint" },
  'prediction.read': { resource: 'prediction', write: false, roles: READ, what: 'read a prediction and download its submission' },
  'prediction.cancel': { resource: 'prediction', write: true, roles: OWN, what: 'cancel a prediction' },
  'dataset.list': { resource: 'project', write: false, roles: READ, what: 'list datasets' },
  'dataset.register': { resource: 'dataset', write: true, roles: OWN, what: 'register a volume in a dataset' },
  'volume.read': { resource: 'volume', write: false, roles: READ, what: "view a volume's slices and 3D preview" },
  'queue.read': { resource: 'project', write: false, roles: READ, what: "see the queue and the project's running work" },
  'member.list': { resource: 'project', write: false, roles: ADMIN, what: "list a project's members" },
  'member.manage': { resource: 'project', write: true, roles: ADMIN, what: 'add, change and remove members' },
  'key.list': { resource: 'project', write: false, roles: ADMIN, what: "list the keys of a project's members" },
  'key.manage': { resource: 'project', write: true, roles: ADMIN, what: "revoke the keys of a project's members" },
  'project.settings': { resource: 'project', write: true, roles: ADMIN, what: "set the project's defaults (a sweep's concurrency cap)" },
  'audit.read': { resource: 'project', write: false, roles: ADMIN, what: "read the project's audit log" },
  'webhook.list': { resource: 'project', write: false, roles: ADMIN, what: "list the project's webhook endpoints" },
  'webhook.create': { resource: 'project', write: true, roles: ADMIN, what: 'register a webhook endpoint' },
  'webhook.read': { resource: 'webhook', write: false, roles: ADMIN, what: "read a webhook endpoint's deliveries" },
  'webhook.delete': { resource: 'webhook', write: true, roles: ADMIN, what: 'delete a webhook endpoint' },
  'usage.read': { resource: 'project', write: false, roles: READ, what: "read the project's worker-seconds by user, sweep and dataset" },
} as const satisfies Record<string, ActionRule>;

export type ProjectAction = keyof typeof ACTIONS;

/**
 * Actions outside any project: `public` (health, the dashboard's files, signing in), `metrics`
 * (its own bearer token, METRICS_TOKEN), `self` (any signed-in user: whoami, their own keys,
 * signing out), `operator` (users and projects).
 */
export const GLOBAL_ACTIONS = ['public', 'metrics', 'self', 'operator'] as const;
export type GlobalAction = (typeof GLOBAL_ACTIONS)[number];
export type Action = ProjectAction | GlobalAction;

/**
 * Routes of plugins that take no route config, all `public`: the dashboard's static files
 * (@fastify/static) and the API's own documentation (@fastify/swagger-ui).
 */
export const PUBLIC_ROUTE_PREFIXES = ['/assets/', '/docs'] as const;

export const isProjectAction = (a: string): a is ProjectAction => Object.hasOwn(ACTIONS, a);
export const isAction = (a: unknown): a is Action => typeof a === 'string' && (isProjectAction(a) || (GLOBAL_ACTIONS as readonly string[]).includes(a));

/** The caller, once authenticated. Anonymous callers exist only with AUTH_READS=open. */
export interface Principal {
  via: 'key' | 'session' | 'anonymous';
  userId: string | null;
  userName: string | null;
  operator: boolean;
  keyId: string | null;
  scope: KeyScope;
  /** Project the key is limited to; null: every project of the user. */
  keyProjectId: string | null;
  /** projectId → role, narrowed to the key's project when it is limited. */
  roles: ReadonlyMap<string, Role>;
  /** projectId → name of those projects. */
  projectNames: ReadonlyMap<string, string>;
}

/** What an action is checked against: the resource's project and creator. */
export interface Target {
  projectId: string;
  createdById: string | null;
}

/**
 * `hidden`: the resource is in a project the principal cannot see (the route answers 404, so ids
 * reveal nothing); `forbidden`: seen but not allowed (403).
 */
export type Decision = 'allow' | 'hidden' | 'forbidden';

export function roleIn(p: Principal, projectId: string): Role | null {
  if (p.via === 'anonymous') return 'viewer';
  return p.roles.get(projectId) ?? null;
}

export function can(p: Principal, action: ProjectAction, target: Target): Decision {
  const role = roleIn(p, target.projectId);
  if (!role) return 'hidden';
  const rule: ActionRule = ACTIONS[action];
  if (rule.write && p.scope === 'read') return 'forbidden';
  const reach = rule.roles[role];
  if (!reach) return 'forbidden';
  if (reach === 'own' && (p.userId === null || target.createdById !== p.userId)) return 'forbidden';
  return 'allow';
}

/** The reason a forbidden action gets, naming the action and what would allow it. */
export function forbiddenReason(p: Principal, action: ProjectAction, target: Target): string {
  const rule: ActionRule = ACTIONS[action];
  if (rule.write && p.scope === 'read') return `${action}: this API key is read-only (scope read)`;
  const role = roleIn(p, target.projectId);
  const reach = role ? rule.roles[role] : undefined;
  if (reach === 'own') return `${action}: a ${role} may only ${rule.what} they created`;
  const allowed = ROLES.filter((r) => rule.roles[r]);
  return `${action}: your role ${role} may not ${rule.what} (needs ${allowed.join(' or ')})`;
}
