import type { FastifyRequest } from 'fastify';

/** Who a new row belongs to: the request's project and user, and the key it came with. */
export interface Owner {
  projectId: string;
  userId: string | null;
  apiKeyId: string | null;
}

/** The owner of what a request creates; only for routes whose action resolved a project. */
export function ownerOf(req: FastifyRequest): Owner {
  if (!req.project) throw new Error(`${req.method} ${req.url}: no project was resolved for this request`);
  return { projectId: req.project.id, userId: req.principal?.userId ?? null, apiKeyId: req.principal?.keyId ?? null };
}
