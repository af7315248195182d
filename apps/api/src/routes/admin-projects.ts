import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AdminService, requireWriteScope } from '../services/admin.ts';
import { HttpError } from '../services/errors.ts';
import { MaxConcurrent } from '@capillary/contracts';
import { Closed, Name, ProjectParams, ProjectRole, Role, errors, security } from './admin-schemas.ts';

const Project = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String({ format: 'date-time' }) }, Closed);
const Member = Type.Object({
  user: Type.String(),
  userId: Type.String(),
  role: Role,
  disabled: Type.Boolean(),
  since: Type.String({ format: 'date-time' }),
}, Closed);
export const MemberParams = Type.Object({ project: Name('project'), user: Name('user') });
export const NewProject = Type.Object({ name: Name('project') }, Closed);
export const ProjectListQuery = Type.Object({ all: Type.Boolean({ default: false }) });
export const MemberRole = Type.Object({ role: Role }, Closed);
const SweepMaxConcurrent = Type.Union([MaxConcurrent, Type.Null()], { description: "the cap of a sweep that names no maxConcurrent; null: none" });
export const ProjectSettings = Type.Object({ sweepMaxConcurrent: SweepMaxConcurrent }, Closed);

/** Projects (operators create them) and their memberships (the project's admins manage them). */
export default async function adminProjectRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const admin = new AdminService(app.db);

  app.post('/projects', {
    schema: {
      summary: 'Create a project (operators); its creator becomes its first admin',
      security,
      body: NewProject,
      response: { 201: Project, ...errors },
    },
    config: { action: 'operator' },
  }, async (req, reply) => {
    const p = req.principal!;
    requireWriteScope(p, 'operator');
    const project = await admin.createProject(req.body.name, p.userId!);
    return reply.status(201).send({ ...project, createdAt: project.createdAt.toISOString() });
  });

  app.get('/projects', {
    schema: {
      summary: "The caller's projects and its role in each; an operator's `all=true` lists every project",
      security,
      querystring: ProjectListQuery,
      response: { 200: Type.Object({ items: Type.Array(ProjectRole) }, Closed), ...errors },
    },
    config: { action: 'self' },
  }, async (req) => {
    const p = req.principal!;
    const role = (id: string) => p.roles.get(id) ?? null;
    if (req.query.all) {
      if (!p.operator) throw new HttpError(403, 'all: only an operator lists every project');
      const rows = await app.db.project.findMany({ orderBy: { name: 'asc' }, select: { id: true, name: true } });
      return { items: rows.map((r) => ({ name: r.name, role: role(r.id) })) };
    }
    return { items: [...p.projectNames].map(([id, name]) => ({ name, role: role(id) })).sort((a, b) => a.name.localeCompare(b.name)) };
  });

  app.patch('/projects/:project', {
    schema: {
      summary: "Set a project's defaults (the project's admins): `sweepMaxConcurrent` caps each new sweep that names no `maxConcurrent`",
      security,
      params: ProjectParams,
      body: ProjectSettings,
      response: { 200: Type.Object({ name: Type.String(), sweepMaxConcurrent: SweepMaxConcurrent }, Closed), ...errors },
    },
    config: { action: 'project.settings' },
  }, async (req) => admin.setProjectSettings(req.project!.id, req.body));

  app.get('/projects/:project/members', {
    schema: { summary: "A project's members and their roles (the project's admins)", security, params: ProjectParams, response: { 200: Type.Object({ items: Type.Array(Member) }, Closed), ...errors } },
    config: { action: 'member.list' },
  }, async (req) => {
    const items = await admin.members(req.project!.id);
    return { items: items.map((m) => ({ ...m, since: m.since.toISOString() })) };
  });

  app.put('/projects/:project/members/:user', {
    schema: {
      summary: "Add a user to a project, or change their role (the project's admins); the last admin cannot be demoted",
      security,
      params: MemberParams,
      body: MemberRole,
      response: { 200: Type.Object({ user: Type.String(), userId: Type.String(), role: Role }, Closed), ...errors },
    },
    config: { action: 'member.manage' },
  }, async (req) => admin.setMember(req.project!.id, req.params.user, req.body.role));

  app.delete('/projects/:project/members/:user', {
    schema: {
      summary: "Remove a user from a project (the project's admins); the last admin cannot be removed",
      security,
      params: MemberParams,
      response: { 204: Type.Null(), ...errors },
    },
    config: { action: 'member.manage' },
  }, async (req, reply) => {
    await admin.removeMember(req.project!.id, req.params.user);
    return reply.status(204).send(null);
  });
}
