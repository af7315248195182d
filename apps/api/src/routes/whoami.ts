import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Closed, ProjectRole, Scope, errors, security } from './admin-schemas.ts';

const Whoami = Type.Object({
  user: Type.Object({ id: Type.String(), name: Type.String() }, Closed),
  operator: Type.Boolean({ description: 'whether this principal may manage users and projects (never through a key limited to a project)' }),
  via: Type.Enum(['key', 'session'] as const),
  key: Type.Union([Type.Object({
    id: Type.String(),
    name: Type.String(),
    scope: Scope,
    project: Type.Union([Type.String(), Type.Null()], { description: 'the project the key is limited to' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  }, Closed), Type.Null()], { description: 'the key of this request; null: a dashboard session' }),
  projects: Type.Array(ProjectRole, { description: 'the projects this principal acts in, with its role in each' }),
}, Closed);

/** `GET /whoami`: who the caller is and what it may act in, as the policy sees it. */
export default async function whoamiRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/whoami', {
    schema: { summary: 'The caller: user, operator flag, key (scope, project limit, expiry) or session, and projects with roles', security, response: { 200: Whoami, 401: errors[401] } },
    config: { action: 'self' },
  }, async (req) => {
    const p = req.principal!;
    const key = p.keyId ? await app.db.apiKey.findUniqueOrThrow({ where: { id: p.keyId }, select: { id: true, name: true, expiresAt: true } }) : null;
    return {
      user: { id: p.userId!, name: p.userName! },
      operator: p.operator,
      via: p.via === 'key' ? ('key' as const) : ('session' as const),
      key: key && {
        id: key.id,
        name: key.name,
        scope: p.scope,
        project: p.keyProjectId ? (p.projectNames.get(p.keyProjectId) ?? null) : null,
        expiresAt: key.expiresAt?.toISOString() ?? null,
      },
      projects: [...p.roles].map(([id, role]) => ({ name: p.projectNames.get(id)!, role })).sort((a, b) => a.name.localeCompare(b.name)),
    };
  });
}
