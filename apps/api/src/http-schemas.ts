/**
 * The schemas of the API's requests (params, queries, bodies) that live beside their routes, as one
 * entry (`@capillary/api/http-schemas`): the fuzz test draws requests from them.
 */
export { IdParams, ListQuery } from './routes/experiments.ts';
export { LeaderboardQuery } from './routes/leaderboard.ts';
export { DatasetParams, RegisterBody } from './routes/datasets.ts';
export { IdParams as AdminIdParams, ProjectParams } from './routes/admin-schemas.ts';
export { NewUser, UserChange } from './routes/admin-users.ts';
export { MemberParams, MemberRole, NewProject, ProjectListQuery, ProjectSettings } from './routes/admin-projects.ts';
export { KeyRequest, ProjectKeyParams } from './routes/keys.ts';
export { AllAuditQuery, AuditQuery } from './routes/audit.ts';
export { SignInBody } from './routes/auth.ts';
export { UsageQuery } from './routes/usage.ts';
export { DeliveriesQuery, WebhookRequest } from './routes/webhooks.ts';
