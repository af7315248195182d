import { LRUCache } from 'lru-cache';
import type { PrismaClient } from '@capillary/db';
import { DEFAULT_PROJECT, type Principal, type ResourceKind, type Target } from './policy.ts';
import { HttpError } from '../services/errors.ts';

/** The header naming the project a request acts in (lists, creations). */
export const PROJECT_HEADER = 'x-capillary-project';

export interface Project {
  id: string;
  name: string;
}

/** A resolved target: the resource's project and creator, and the project's name. */
export interface ResolvedTarget extends Target {
  project: Project;
}

const notFound = (what: string) => new HttpError(404, `${what} not found`);

/**
 * Finds what an action acts on, for `can`. Each kind is one small query of the resource's
 * project and creator; an id of no row is a 404, exactly as an id of another project's row.
 */
export class TargetResolver {
  /** Project names never change and projects are never deleted, so name → id is cached. */
  private readonly projectIds = new Map<string, string>();
  /**
   * A row's project and creator never change, so they are remembered: authorising an `:id` route
   * then costs no query (bench/api-load.ts `authCost`). Rows that do not exist are not remembered.
   */
  private readonly owners = new LRUCache<string, { projectId: string; createdById: string | null }>({ max: 100_000 });

  constructor(private readonly db: PrismaClient) {}

  async resolve(kind: ResourceKind, principal: Principal, params: Record<string, string>, headers: Record<string, unknown>): Promise<ResolvedTarget> {
    const withProject = async (what: string, row: { projectId: string; createdById: string | null } | null): Promise<ResolvedTarget> => {
      if (!row) throw notFound(what);
      return { projectId: row.projectId, createdById: row.createdById, project: { id: row.projectId, name: await this.projectName(principal, row.projectId) } };
    };
    const select = { projectId: true, createdById: true } as const;
    const remembered = async (find: () => Promise<{ projectId: string; createdById: string | null } | null | undefined>) => {
      const key = `${kind}:${params.id}`;
      let owner = this.owners.get(key);
      if (!owner) {
        owner = (await find()) ?? undefined;
        if (owner) this.owners.set(key, owner);
      }
      return owner ?? null;
    };
    switch (kind) {
      case 'experiment':
        return withProject(`experiment ${params.id}`, await remembered(() => this.db.experiment.findUnique({ where: { id: params.id }, select })));
      case 'sweep':
        return withProject(`sweep ${params.id}`, await remembered(() => this.db.sweep.findUnique({ where: { id: params.id }, select })));
      case 'prediction':
        return withProject(`prediction ${params.id}`, await remembered(() => this.db.prediction.findUnique({ where: { id: params.id }, select })));
      case 'webhook':
        return withProject(`webhook ${params.id}`, await remembered(() => this.db.webhookEndpoint.findUnique({ where: { id: params.id }, select })));
      case 'volume':
        return withProject(`volume ${params.id}`, await remembered(async () => (await this.db.volume.findUnique({ where: { id: params.id }, select: { dataset: { select } } }))?.dataset));
      case 'dataset': {
        const ds = await this.db.dataset.findUnique({ where: { name: params.name }, select });
        if (ds) return withProject(`dataset ${params.name}`, ds);
        // Registering the first volume creates the dataset in the request's project.
        const project = await this.currentProject(principal, headers);
        return { projectId: project.id, createdById: principal.userId, project };
      }
      case 'project': {
        const project = params.project ? await this.namedProject(principal, params.project) : await this.currentProject(principal, headers);
        return { projectId: project.id, createdById: null, project };
      }
    }
  }

  /**
   * The project a list or creation acts in: the header's, else the key's, else `default` when the
   * user is in it, else the user's only project. A project the caller is not in is a 404.
   */
  async currentProject(principal: Principal, headers: Record<string, unknown>): Promise<Project> {
    const named = headers[PROJECT_HEADER];
    if (typeof named === 'string' && named !== '') return this.namedProject(principal, named);
    if (principal.keyProjectId) return { id: principal.keyProjectId, name: principal.projectNames.get(principal.keyProjectId)! };
    if (principal.via === 'anonymous') return this.namedProject(principal, DEFAULT_PROJECT);
    const mine = [...principal.projectNames].map(([id, name]) => ({ id, name }));
    const chosen = mine.find((p) => p.name === DEFAULT_PROJECT) ?? (mine.length === 1 ? mine[0] : undefined);
    if (chosen) return chosen;
    if (!mine.length) throw new HttpError(403, `${PROJECT_HEADER}: you are in no project yet; ask a project admin to add you`);
    throw new HttpError(400, `${PROJECT_HEADER}: name the project to act in (you are in ${mine.map((p) => p.name).sort().join(', ')})`);
  }

  private async namedProject(principal: Principal, name: string): Promise<Project> {
    for (const [id, n] of principal.projectNames) if (n === name) return { id, name };
    // Anonymous readers (AUTH_READS=open) see every project; others only their own.
    if (principal.via === 'anonymous') {
      const id = await this.projectIdOf(name);
      if (id) return { id, name };
    }
    throw notFound(`project ${name}`);
  }

  private async projectIdOf(name: string): Promise<string | undefined> {
    let id = this.projectIds.get(name);
    if (!id) {
      id = (await this.db.project.findUnique({ where: { name }, select: { id: true } }))?.id;
      if (id) this.projectIds.set(name, id);
    }
    return id;
  }

  private async projectName(principal: Principal, id: string): Promise<string> {
    const known = principal.projectNames.get(id);
    if (known) return known;
    // Only anonymous readers reach here for a project they are not in; others get 'hidden' next.
    return (await this.db.project.findUnique({ where: { id }, select: { name: true } }))?.name ?? '';
  }
}
