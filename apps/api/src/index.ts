/**
 * @capillary/api: the HTTP API (`buildApp`, `startApi`), and what the CLI runs on the server
 * without it: users, keys and pseudo-label checks. `./http-schemas` holds its requests' schemas.
 */
export { buildApp } from './app.ts';
export { startApi } from './server.ts';
export { ApiKeyService, PRINCIPAL_TTL_MS, type NewKey } from './services/api-keys.ts';
export { AdminService } from './services/admin.ts';
export { checkPseudoLabelTarget } from './services/pseudo-labels.ts';
export { ACTIONS, can, isAction, isProjectAction, DEFAULT_PROJECT, type Action, type ProjectAction, type ResourceKind, type Role } from './auth/policy.ts';
export { PROJECT_HEADER } from './auth/targets.ts';
export { SESSION_COOKIE } from './plugins/app/session.ts';
