import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AdminService, requireWriteScope } from '../services/admin.ts';
import { Closed, IdParams, Name, Role, User, errors, security, userView } from './admin-schemas.ts';

const UserWithProjects = Type.Object({
  ...User.properties,
  projects: Type.Array(Type.Object({ name: Type.String(), role: Role }, Closed)),
}, Closed);

/** Users, managed by operators (`operator`): create, list, disable, make or unmake operators. */
export const NewUser = Type.Object({ name: Name('user'), operator: Type.Optional(Type.Boolean({ default: false, description: 'may create users and projects' })) }, Closed);
export const UserChange = Type.Object({ disabled: Type.Optional(Type.Boolean()), operator: Type.Optional(Type.Boolean()) }, { ...Closed, minProperties: 1 });

export default async function adminUserRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const admin = new AdminService(app.db);

  app.post('/users', {
    schema: {
      summary: 'Create a user (operators); give them a project role with PUT /projects/{project}/members/{user}',
      security,
      body: NewUser,
      response: { 201: User, ...errors },
    },
    config: { action: 'operator' },
  }, async (req, reply) => {
    requireWriteScope(req.principal!, 'operator');
    return reply.status(201).send(userView(await admin.createUser(req.body.name, req.body.operator ?? false)));
  });

  app.get('/users', {
    schema: { summary: 'List users and their project roles (operators)', security, response: { 200: Type.Object({ items: Type.Array(UserWithProjects) }, Closed), ...errors } },
    config: { action: 'operator' },
  }, async () => {
    const users = await admin.listUsers();
    return { items: users.map((u) => ({ ...userView(u), projects: u.memberships.map((m) => ({ name: m.project.name, role: m.role })) })) };
  });

  app.patch('/users/:id', {
    schema: {
      summary: "Disable or re-enable a user (their keys and sessions stop working), or change their operator flag (operators)",
      security,
      params: IdParams,
      body: UserChange,
      response: { 200: User, ...errors },
    },
    config: { action: 'operator' },
  }, async (req) => {
    requireWriteScope(req.principal!, 'operator');
    return userView(await admin.updateUser(req.principal!, req.params.id, req.body));
  });
}
