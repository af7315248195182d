import type { PrismaClient } from '@capillary/db';
import type { Principal, Role } from '../auth/policy.ts';
import { HttpError, notFound } from './errors.ts';

const isUniqueViolation = (e: unknown) => (e as { code?: string }).code === 'P2002';

const USER = { id: true, name: true, operator: true, disabledAt: true, createdAt: true } as const;

/** Writes need a write-scoped key; global actions (`self`, `operator`) are not checked by the auth plugin for it. */
export function requireWriteScope(p: Principal, what: string): void {
  if (p.scope === 'read') throw new HttpError(403, `${what}: this API key is read-only (scope read)`);
}

/**
 * Users, projects and memberships: what operators and project admins manage. Authorisation is
 * the auth plugin's (each route's action); what is left here are the rules no role overrides,
 * such as a project always keeping an admin.
 */
export class AdminService {
  constructor(private readonly db: PrismaClient) {}

  async createUser(name: string, operator: boolean) {
    try {
      return await this.db.user.create({ data: { name, operator }, select: USER });
    } catch (e) {
      if (isUniqueViolation(e)) throw new HttpError(409, `name: a user named ${name} already exists`);
      throw e;
    }
  }

  async listUsers() {
    return this.db.user.findMany({
      orderBy: { name: 'asc' },
      select: { ...USER, memberships: { select: { role: true, project: { select: { name: true } } } } },
    });
  }

  /** Operators cannot disable or demote themselves: the last one would lock everyone out of administration. */
  async updateUser(actor: Principal, id: string, change: { disabled?: boolean; operator?: boolean }) {
    const user = await this.db.user.findUnique({ where: { id }, select: { id: true } });
    if (!user) throw notFound(`user ${id}`);
    if (id === actor.userId && (change.disabled === true || change.operator === false)) {
      throw new HttpError(409, `${change.disabled ? 'disabled' : 'operator'}: an operator cannot disable or demote themselves; ask another operator`);
    }
    return this.db.user.update({
      where: { id },
      data: {
        ...(change.disabled === undefined ? {} : { disabledAt: change.disabled ? new Date() : null }),
        ...(change.operator === undefined ? {} : { operator: change.operator }),
      },
      select: USER,
    });
  }

  /** A new project, with its creator as its first admin. */
  async createProject(name: string, creatorId: string) {
    try {
      return await this.db.project.create({
        data: { name, memberships: { create: { userId: creatorId, role: 'admin' } } },
        select: { id: true, name: true, createdAt: true },
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new HttpError(409, `name: a project named ${name} already exists`);
      throw e;
    }
  }

  /** The project's defaults: `sweepMaxConcurrent` caps each new sweep that names no `maxConcurrent`. */
  async setProjectSettings(projectId: string, settings: { sweepMaxConcurrent: number | null }) {
    return this.db.project.update({ where: { id: projectId }, data: settings, select: { name: true, sweepMaxConcurrent: true } });
  }

  async members(projectId: string) {
    const rows = await this.db.membership.findMany({
      where: { projectId },
      orderBy: { user: { name: 'asc' } },
      select: { role: true, createdAt: true, user: { select: { id: true, name: true, disabledAt: true } } },
    });
    return rows.map((m) => ({ user: m.user.name, userId: m.user.id, role: m.role as Role, disabled: m.user.disabledAt !== null, since: m.createdAt }));
  }

  /** Adds `userName` to the project or changes their role; demoting the last admin is refused. */
  async setMember(projectId: string, userName: string, role: Role) {
    const user = await this.userNamed(userName);
    await this.keepingAnAdmin(projectId, user.id, role, async (tx) => {
      await tx.membership.upsert({
        where: { userId_projectId: { userId: user.id, projectId } },
        create: { userId: user.id, projectId, role },
        update: { role },
      });
    });
    return { user: user.name, userId: user.id, role };
  }

  /** Removes `userName` from the project; removing the last admin is refused. */
  async removeMember(projectId: string, userName: string) {
    const user = await this.userNamed(userName);
    await this.keepingAnAdmin(projectId, user.id, null, async (tx) => {
      const { count } = await tx.membership.deleteMany({ where: { userId: user.id, projectId } });
      if (!count) throw notFound(`member ${userName}`);
    });
  }

  private async userNamed(name: string) {
    const user = await this.db.user.findUnique({ where: { name }, select: { id: true, name: true } });
    if (!user) throw notFound(`user ${name}`);
    return user;
  }

  /**
   * Runs `change` (giving `userId` the role `next`, null: none) unless it leaves the project without
   * an admin. The project row is locked first, so two admins demoting each other at once cannot
   * both pass the check.
   */
  private async keepingAnAdmin(projectId: string, userId: string, next: Role | null, change: (tx: Parameters<Parameters<PrismaClient['$transaction']>[0]>[0]) => Promise<void>) {
    await this.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT 1 FROM "Project" WHERE "id" = ${projectId}::uuid FOR UPDATE`;
      if (next !== 'admin') {
        const admins = await tx.membership.findMany({ where: { projectId, role: 'admin' }, select: { userId: true } });
        if (admins.length === 1 && admins[0].userId === userId) {
          throw new HttpError(409, `role: this is the project's last admin; make another member admin first`);
        }
      }
      await change(tx);
    });
  }
}
