import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AuditLog } from '../services/audit-log.ts';
import { Closed, Name, errors, security } from './admin-schemas.ts';

const NullableString = Type.Union([Type.String(), Type.Null()]);
const Entry = Type.Object({
  id: Type.String({ description: 'increasing; pass as `before` for the next page' }),
  at: Type.String({ format: 'date-time' }),
  user: Type.Union([Type.String(), Type.Null()], { description: 'the user name; null: no principal (refused before sign-in)' }),
  apiKeyId: NullableString,
  via: Type.String({ description: 'key, session, anonymous or none' }),
  method: Type.String(),
  route: Type.String(),
  action: Type.String({ description: 'the policy action (src/auth/policy.ts)' }),
  resourceId: NullableString,
  project: NullableString,
  statusCode: Type.Integer(),
  ip: NullableString,
}, Closed);
const Page = Type.Object({ items: Type.Array(Entry), nextBefore: Type.Union([Type.String(), Type.Null()], { description: 'the `before` of the next, older page; null: no more' }) }, Closed);
const Filters = {
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  before: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: 'only entries older than this id' })),
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  user: Type.Optional(Name('user')),
};
export const AuditQuery = Type.Object(Filters);
export const AllAuditQuery = Type.Object({ ...Filters, project: Type.Optional(Name('project')) });

/** The audit log: every mutating request, newest first. */
export default async function auditRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const log = new AuditLog(app.db);

  app.get('/audit', {
    schema: {
      summary: "The project's audit log, newest first (the project's admins; the project of x-capillary-project)",
      security,
      querystring: AuditQuery,
      response: { 200: Page, ...errors },
    },
    config: { action: 'audit.read' },
  }, async (req) => log.list({ ...req.query, projectId: req.project!.id }));

  app.get('/audit/all', {
    schema: {
      summary: "Every project's audit log and the entries of no project (users, projects, refused sign-ins), newest first (operators)",
      security,
      querystring: AllAuditQuery,
      response: { 200: Page, ...errors },
    },
    config: { action: 'operator' },
  }, async (req) => {
    const { project, ...q } = req.query;
    if (project === undefined) return log.list(q);
    const row = await app.db.project.findUnique({ where: { name: project }, select: { id: true } });
    return row ? log.list({ ...q, projectId: row.id }) : { items: [], nextBefore: null };
  });
}
