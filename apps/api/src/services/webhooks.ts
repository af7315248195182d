import { newWebhookSecret } from '@capillary/contracts';
import type { PrismaClient, WebhookEndpoint } from '@capillary/db';
import type { WebhookRegistry } from '@capillary/registry';
import { invalid, notFound } from './errors.ts';

export interface EndpointRequest {
  url: string;
  events: string[];
  secret?: string;
  apiKeyId?: string;
  description?: string;
}

/** An endpoint as listed: never its secret. */
export const endpointView = (e: WebhookEndpoint) => ({
  id: e.id,
  url: e.url,
  events: e.events,
  apiKeyId: e.apiKeyId,
  description: e.description,
  createdAt: e.createdAt.toISOString(),
});

/**
 * Webhook endpoints of a project: registered (the secret shown once, chosen by the caller or
 * made here), listed, deleted, and their deliveries read. Who may is the policy's (`webhook.*`).
 */
export class WebhookService {
  constructor(
    private readonly db: PrismaClient,
    private readonly hooks: WebhookRegistry,
  ) {}

  async create(projectId: string, createdById: string | null, req: EndpointRequest) {
    const url = checkedUrl(req.url);
    if (req.apiKeyId !== undefined && !(await this.keyActsIn(req.apiKeyId, projectId))) {
      throw invalid('webhook', [{ field: 'body/apiKeyId', message: 'must be a key of a member of this project, not revoked' }]);
    }
    const secret = req.secret ?? newWebhookSecret();
    const row = await this.hooks.createEndpoint({
      projectId, createdById, url, secret, events: [...new Set(req.events)],
      apiKeyId: req.apiKeyId ?? null, description: req.description ?? null,
    });
    return { ...endpointView(row), secret };
  }

  async list(projectId: string) {
    return { items: (await this.hooks.listEndpoints(projectId)).map(endpointView) };
  }

  async remove(projectId: string, id: string) {
    const row = await this.hooks.deleteEndpoint(projectId, id);
    if (!row) throw notFound(`webhook ${id}`);
    return endpointView(row);
  }

  async deliveries(projectId: string, id: string, limit: number) {
    if (!(await this.hooks.findEndpoint(projectId, id))) throw notFound(`webhook ${id}`);
    const rows = await this.hooks.deliveries(id, limit);
    return {
      items: rows.map((d) => ({
        id: d.id, seq: Number(d.seq), eventId: d.eventId, event: d.event, subjectId: d.subjectId, status: d.status as 'pending' | 'delivered' | 'failed',
        attempts: d.attempts, lastStatusCode: d.lastStatusCode, lastError: d.lastError,
        createdAt: d.createdAt.toISOString(), deliveredAt: d.deliveredAt?.toISOString() ?? null, failedAt: d.failedAt?.toISOString() ?? null,
        tries: d.tries.map((t) => ({ number: t.number, statusCode: t.statusCode, error: t.error, durationMs: t.durationMs, at: t.at.toISOString() })),
      })),
    };
  }

  /** The key exists, is live, and its user is a member of the project (a key limited to another project is not). */
  private async keyActsIn(keyId: string, projectId: string): Promise<boolean> {
    const key = await this.db.apiKey.findFirst({
      where: { id: keyId, revokedAt: null, OR: [{ projectId: null }, { projectId }], user: { memberships: { some: { projectId } } } },
      select: { id: true },
    });
    return key !== null;
  }
}

/** http(s) only, no credentials in it (they would be logged and shown in lists). */
function checkedUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('webhook', [{ field: 'body/url', message: 'must be an absolute http(s) URL' }]);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('webhook', [{ field: 'body/url', message: 'must be an absolute http(s) URL' }]);
  if (url.username || url.password) throw invalid('webhook', [{ field: 'body/url', message: 'must not contain a user name or password; the signature authenticates us' }]);
  return url.href;
}
