import type { PrismaClient, WebhookDelivery, WebhookEndpoint } from '@capillary/db';

/** A delivery as its job finds it: `behind` an older pending one of its endpoint, or free to be tried. */
export type DeliveryClaim =
  | { kind: 'gone' }
  | { kind: 'done' }
  | { kind: 'behind'; endpointId: string }
  | { kind: 'ready'; delivery: WebhookDelivery; endpoint: Pick<WebhookEndpoint, 'id' | 'url' | 'secret'> };

/** What one HTTP try came back with. */
export interface DeliveryTry {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface NewWebhookEndpoint {
  projectId: string;
  apiKeyId: string | null;
  url: string;
  secret: string;
  events: string[];
  description: string | null;
  createdById: string | null;
}

/**
 * The only writer of webhook endpoints and of what happens to deliveries after the outbox wrote
 * them (webhooks.ts): each try, and the end, delivered or failed. Per endpoint only the oldest
 * pending delivery (lowest `seq`) is tried, so retries never reorder events.
 */
export class WebhookRegistry {
  constructor(private readonly db: PrismaClient) {}

  createEndpoint(row: NewWebhookEndpoint): Promise<WebhookEndpoint> {
    return this.db.webhookEndpoint.create({ data: row });
  }

  listEndpoints(projectId: string): Promise<WebhookEndpoint[]> {
    return this.db.webhookEndpoint.findMany({ where: { projectId }, orderBy: { createdAt: 'asc' } });
  }

  /** The endpoint if it is this project's; another project's id is none. */
  findEndpoint(projectId: string, id: string): Promise<WebhookEndpoint | null> {
    return this.db.webhookEndpoint.findFirst({ where: { id, projectId } });
  }

  /** Deletes it with its deliveries (pending ones are dropped: their jobs find them gone). */
  async deleteEndpoint(projectId: string, id: string): Promise<WebhookEndpoint | null> {
    const row = await this.findEndpoint(projectId, id);
    if (!row) return null;
    await this.db.webhookEndpoint.deleteMany({ where: { id, projectId } });
    return row;
  }

  /** The newest deliveries of an endpoint, each with its tries. */
  deliveries(endpointId: string, limit: number) {
    return this.db.webhookDelivery.findMany({
      where: { endpointId }, orderBy: { seq: 'desc' }, take: limit,
      include: { tries: { orderBy: { number: 'asc' } } },
    });
  }

  /** Whether the delivery may be tried now: it is pending and no older delivery of its endpoint is. */
  async claim(id: string): Promise<DeliveryClaim> {
    const d = await this.db.webhookDelivery.findUnique({ where: { id }, include: { endpoint: { select: { id: true, url: true, secret: true } } } });
    if (!d) return { kind: 'gone' };
    if (d.status !== 'pending') return { kind: 'done' };
    const older = await this.db.webhookDelivery.count({ where: { endpointId: d.endpointId, status: 'pending', seq: { lt: d.seq } } });
    if (older) return { kind: 'behind', endpointId: d.endpointId };
    const { endpoint, ...delivery } = d;
    return { kind: 'ready', delivery, endpoint };
  }

  /**
   * Records one try and what it means: `delivered`, `failed` (for good) or `retry` (still
   * pending). Only a pending delivery changes; the try is numbered after those recorded.
   */
  async recordTry(id: string, t: DeliveryTry, outcome: 'delivered' | 'failed' | 'retry'): Promise<void> {
    await this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ attempts: number; status: string }[]>`SELECT attempts, status FROM "WebhookDelivery" WHERE id = ${id}::uuid FOR UPDATE`;
      const row = rows[0];
      if (!row || row.status !== 'pending') return;
      const number = row.attempts + 1;
      await tx.webhookAttempt.create({ data: { deliveryId: id, number, statusCode: t.statusCode, error: t.error, durationMs: Math.round(t.durationMs) } });
      const now = new Date();
      await tx.webhookDelivery.update({
        where: { id },
        data: {
          attempts: number, lastStatusCode: t.statusCode, lastError: t.error,
          ...(outcome === 'delivered' ? { status: 'delivered', deliveredAt: now } : outcome === 'failed' ? { status: 'failed', failedAt: now } : {}),
        },
      });
    });
  }

  /** A pending delivery whose job will never try it again (it failed for good outside a try). */
  async giveUp(id: string, error: string): Promise<void> {
    await this.db.webhookDelivery.updateMany({ where: { id, status: 'pending' }, data: { status: 'failed', failedAt: new Date(), lastError: error.slice(0, 1000) } });
  }

  /** The next delivery of the endpoint to try, if it has waited behind and never been tried. */
  async nextWaiting(endpointId: string): Promise<string | null> {
    const next = await this.db.webhookDelivery.findFirst({ where: { endpointId, status: 'pending' }, orderBy: { seq: 'asc' }, select: { id: true, attempts: true } });
    return next && next.attempts === 0 ? next.id : null;
  }

  /** Pending deliveries written more than `graceMs` ago, oldest first: the reconciler checks their jobs. */
  pendingOlderThan(graceMs: number, take = 500) {
    return this.db.webhookDelivery.findMany({
      where: { status: 'pending', createdAt: { lt: new Date(Date.now() - graceMs) } },
      orderBy: { seq: 'asc' }, take, select: { id: true },
    });
  }
}
