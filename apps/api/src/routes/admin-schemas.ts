import { Type } from 'typebox';
import { ROLES } from '../auth/policy.ts';
import { ErrorBody } from '@capillary/contracts/api';

export const Closed = { additionalProperties: false } as const;
const When = Type.String({ format: 'date-time' });
const NullableWhen = Type.Union([When, Type.Null()]);

/** User and project names: as dataset names, safe in a URL path and a header. */
export const Name = (what: string) => Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: `Name of a ${what}` });
export const Role = Type.Enum(ROLES, { description: 'viewer reads; member creates runs and acts on its own; admin acts on everything, manages members and keys, closes sweeps' });
export const Scope = Type.Enum(['read', 'write'] as const, { description: 'read: GET routes only' });

export const ProjectParams = Type.Object({ project: Name('project') });
export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody };
export const security = [{ apiKey: [] }];

export const User = Type.Object({
  id: Type.String(),
  name: Type.String(),
  operator: Type.Boolean(),
  disabledAt: NullableWhen,
  createdAt: When,
}, Closed);

export const ProjectRole = Type.Object({ name: Type.String(), role: Type.Union([Role, Type.Null()], { description: 'the caller\'s role; null: not a member (operators listing every project)' }) }, Closed);

export const Key = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'the first characters of the key, to recognise it' }),
  user: Type.String(),
  project: Type.Union([Type.String(), Type.Null()], { description: 'the project the key is limited to; null: every project of its user' }),
  scope: Scope,
  expiresAt: NullableWhen,
  createdAt: When,
  lastUsedAt: NullableWhen,
  revokedAt: NullableWhen,
}, Closed);

/** A key as created or rotated: the only time the key itself is shown. */
export const NewKey = Type.Object({
  ...Key.properties,
  key: Type.String({ description: 'the API key; shown once, store it now' }),
  replaces: Type.Optional(Type.String({ description: 'the key this one replaces (rotation); now revoked' })),
}, Closed);

export const userView = (u: { id: string; name: string; operator: boolean; disabledAt: Date | null; createdAt: Date }) => ({
  id: u.id,
  name: u.name,
  operator: u.operator,
  disabledAt: u.disabledAt?.toISOString() ?? null,
  createdAt: u.createdAt.toISOString(),
});
