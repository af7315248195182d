// Every route of the API as the fuzz test sends to it: which parts it validates (TypeBox schemas,
// the same ones the routes use), and whether a request that passes validation may write.
import fc from 'fast-check';
import { Type, type TSchema } from 'typebox';
import { DatasetName, ExperimentRequest, PredictionOptions, SweepExtension, SweepSpec } from '@capillary/contracts';
import {
  AdminIdParams, AllAuditQuery, AuditQuery, DatasetParams, IdParams, KeyRequest, LeaderboardQuery, ListQuery, MemberParams, MemberRole,
  NewProject, NewUser, ProjectKeyParams, ProjectListQuery, ProjectParams, ProjectSettings, RegisterBody, SignInBody, UsageQuery, UserChange,
  DeliveriesQuery, WebhookRequest,
} from '@capillary/api/http-schemas';

// Not exported by their (other people's) route files; these mirror them.
const PredictionBody = Type.Object({ dataset: DatasetName, options: Type.Optional(PredictionOptions) }, { additionalProperties: false });
const SliceParams = Type.Object({ id: Type.String({ format: 'uuid' }), axis: Type.Enum(['xy', 'xz', 'yz']), index: Type.Integer({ minimum: 0 }) });
const SliceQuery = Type.Object({ layer: Type.Enum(['image', 'label', 'prediction']), predictionId: Type.Optional(Type.String({ format: 'uuid' })) });
const Volume3dQuery = Type.Object({ layer: Type.Enum(['label', 'prediction']), predictionId: Type.Optional(Type.String({ format: 'uuid' })), size: Type.Integer({ minimum: 16, maximum: 256, default: 128 }) });
const IdempotencyHeaders = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) });

export interface RouteSpec {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  /** As in the OpenAPI document: `/experiments/{id}`. */
  path: string;
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  headers?: TSchema;
  /** A request that passes validation may create, change or remove something. */
  writes: boolean;
  /** Opens a stream when the id exists: only ever sent ids that do not. */
  streams?: boolean;
  /** Static files: any non-5xx answer is fine, the message is not ours. */
  static?: boolean;
}

export const ROUTES: RouteSpec[] = [
  { method: 'GET', path: '/health', writes: false },
  { method: 'POST', path: '/experiments', body: ExperimentRequest, headers: IdempotencyHeaders, writes: true },
  { method: 'GET', path: '/experiments', querystring: ListQuery, writes: false },
  { method: 'GET', path: '/experiments/{id}', params: IdParams, writes: false },
  { method: 'DELETE', path: '/experiments/{id}', params: IdParams, writes: true },
  { method: 'GET', path: '/experiments/{id}/events', params: IdParams, writes: false, streams: true },
  { method: 'POST', path: '/sweeps', body: SweepSpec, writes: true },
  { method: 'GET', path: '/sweeps', writes: false },
  { method: 'POST', path: '/sweeps/{id}/close', params: IdParams, writes: true },
  { method: 'GET', path: '/sweeps/{id}', params: IdParams, writes: false },
  { method: 'POST', path: '/sweeps/{id}/rerun', params: IdParams, writes: true },
  { method: 'POST', path: '/sweeps/{id}/extend', params: IdParams, body: SweepExtension, writes: true },
  { method: 'GET', path: '/leaderboard', querystring: LeaderboardQuery, writes: false },
  { method: 'GET', path: '/datasets', writes: false },
  { method: 'POST', path: '/datasets/{name}/volumes', params: DatasetParams, body: RegisterBody, writes: true },
  { method: 'GET', path: '/queue', writes: false },
  { method: 'POST', path: '/experiments/{id}/predictions', params: IdParams, body: PredictionBody, writes: true },
  { method: 'GET', path: '/experiments/{id}/predictions', params: IdParams, writes: false },
  { method: 'GET', path: '/predictions/{id}', params: IdParams, writes: false },
  { method: 'GET', path: '/predictions/{id}/submission.csv', params: IdParams, writes: false },
  { method: 'GET', path: '/volumes/{id}', params: IdParams, writes: false },
  { method: 'GET', path: '/volumes/{id}/slices/{axis}/{index}', params: SliceParams, querystring: SliceQuery, writes: false },
  { method: 'GET', path: '/volumes/{id}/volume3d', params: IdParams, querystring: Volume3dQuery, writes: false },
  { method: 'GET', path: '/', writes: false, static: true },
  { method: 'GET', path: '/app/{rest}', params: Type.Object({ rest: Type.String({ maxLength: 30 }) }), writes: false, static: true },
  { method: 'GET', path: '/assets/{file}', params: Type.Object({ file: Type.String({ pattern: '^[a-z0-9.-]{1,20}$' }) }), writes: false, static: true },
  { method: 'GET', path: '/favicon.svg', writes: false, static: true },
  { method: 'GET', path: '/docs', writes: false, static: true },
  { method: 'GET', path: '/docs/json', writes: false, static: true },
  // Last, so the seeds (SEED + index) of the routes before it stay as they were.
  { method: 'GET', path: '/metrics', writes: false },
  { method: 'POST', path: '/experiments/{id}/close', params: IdParams, writes: true },
  { method: 'DELETE', path: '/predictions/{id}', params: IdParams, writes: true },
  // Tenancy: signing in, administration and the audit log.
  { method: 'GET', path: '/auth/config', writes: false },
  { method: 'POST', path: '/auth/session', body: SignInBody, writes: true },
  { method: 'GET', path: '/auth/session', writes: false },
  { method: 'DELETE', path: '/auth/session', writes: true },
  // Redirects to the identity provider, or 404 where none is configured: not our message to check.
  { method: 'GET', path: '/auth/oidc/login', writes: false, static: true },
  { method: 'GET', path: '/auth/oidc/callback', writes: false, static: true },
  { method: 'GET', path: '/whoami', writes: false },
  { method: 'POST', path: '/users', body: NewUser, writes: true },
  { method: 'GET', path: '/users', writes: false },
  { method: 'PATCH', path: '/users/{id}', params: AdminIdParams, body: UserChange, writes: true },
  { method: 'POST', path: '/projects', body: NewProject, writes: true },
  { method: 'GET', path: '/projects', querystring: ProjectListQuery, writes: false },
  { method: 'PATCH', path: '/projects/{project}', params: ProjectParams, body: ProjectSettings, writes: true },
  { method: 'GET', path: '/projects/{project}/members', params: ProjectParams, writes: false },
  { method: 'PUT', path: '/projects/{project}/members/{user}', params: MemberParams, body: MemberRole, writes: true },
  { method: 'DELETE', path: '/projects/{project}/members/{user}', params: MemberParams, writes: true },
  { method: 'POST', path: '/keys', body: KeyRequest, writes: true },
  { method: 'GET', path: '/keys', writes: false },
  { method: 'DELETE', path: '/keys/{id}', params: AdminIdParams, writes: true },
  { method: 'POST', path: '/keys/{id}/rotate', params: AdminIdParams, writes: true },
  { method: 'GET', path: '/projects/{project}/keys', params: ProjectParams, writes: false },
  { method: 'DELETE', path: '/projects/{project}/keys/{id}', params: ProjectKeyParams, writes: true },
  { method: 'GET', path: '/audit', querystring: AuditQuery, writes: false },
  { method: 'GET', path: '/audit/all', querystring: AllAuditQuery, writes: false },
  { method: 'GET', path: '/usage', querystring: UsageQuery, writes: false },
  { method: 'POST', path: '/webhooks', body: WebhookRequest, writes: true },
  { method: 'GET', path: '/webhooks', writes: false },
  { method: 'DELETE', path: '/webhooks/{id}', params: AdminIdParams, writes: true },
  { method: 'GET', path: '/webhooks/{id}/deliveries', params: AdminIdParams, querystring: DeliveriesQuery, writes: false },
];

/** Routes with no JSON schema of their own that the fuzzer still varies. */
export const anyUuid = fc.uuid();
