import { DelayedError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import { parseJobPayload, signWebhook, ValidationError, WEBHOOK_HEADERS, type WebhookEvent } from '@capillary/contracts';
import type { DeliveryTry, WebhookRegistry } from '@capillary/registry';

/** How long a delivery waits behind an older one of its endpoint before looking again; the older one wakes it sooner when it ends. */
const BEHIND_WAIT_MS = 30_000;
const MAX_ERROR = 500;

export interface DeliveryResult {
  outcome: 'delivered' | 'skipped';
  statusCode?: number;
}

/**
 * Posts one webhook delivery per job: signed afresh at each try, with a timeout, its answer
 * recorded by the registry. A 2xx delivers; a 4xx other than 408 and 429 fails for good (an
 * `UnrecoverableError`); anything else, or no answer, is retried by BullMQ with exponential
 * back-off until the attempts run out. Per endpoint only the oldest pending delivery is tried: a
 * younger one waits delayed (no attempt spent) and is woken when the older one ends.
 */
export class WebhookDelivery {
  constructor(
    private readonly hooks: WebhookRegistry,
    private readonly queue: Queue,
    private readonly timeoutMs: number,
  ) {}

  async process(job: Job, token: string | undefined): Promise<DeliveryResult> {
    let deliveryId: string;
    try {
      ({ deliveryId } = parseJobPayload('webhook', job.data));
    } catch (e) {
      throw new UnrecoverableError(e instanceof ValidationError ? e.message : String(e));
    }
    const claim = await this.hooks.claim(deliveryId);
    if (claim.kind === 'gone' || claim.kind === 'done') return { outcome: 'skipped' };
    if (claim.kind === 'behind') {
      await job.moveToDelayed(Date.now() + BEHIND_WAIT_MS, token);
      // The older delivery may have ended between the claim and the move, and found this job
      // still active, so it could not wake it: look once more.
      if ((await this.hooks.nextWaiting(claim.endpointId)) === deliveryId) await job.promote().catch(() => undefined);
      throw new DelayedError();
    }
    const { delivery, endpoint } = claim;
    const result = await this.post(endpoint, delivery.payload, { event: delivery.event as WebhookEvent, eventId: delivery.eventId, deliveryId, attempt: delivery.attempts + 1 });
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const permanent = result.statusCode !== null && result.statusCode >= 400 && result.statusCode < 500 && result.statusCode !== 408 && result.statusCode !== 429;
    const lastTry = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const outcome = ok ? 'delivered' : permanent || lastTry ? 'failed' : 'retry';
    await this.hooks.recordTry(deliveryId, result, outcome);
    if (outcome !== 'retry') await this.wakeNext(endpoint.id);
    if (ok) return { outcome: 'delivered', statusCode: result.statusCode! };
    const why = result.statusCode !== null ? `the receiver answered ${result.statusCode}` : `no answer: ${result.error}`;
    throw permanent ? new UnrecoverableError(why) : new Error(why);
  }

  /** One try: never throws, whatever the receiver does. Redirects are not followed (a 3xx is a failed try). */
  private async post(endpoint: { url: string; secret: string }, payload: unknown, meta: { event: WebhookEvent; eventId: string; deliveryId: string; attempt: number }): Promise<DeliveryTry> {
    const body = JSON.stringify(payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const t0 = performance.now();
    try {
      const res = await fetch(endpoint.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Capillary-Webhooks/1',
          [WEBHOOK_HEADERS.event]: meta.event,
          [WEBHOOK_HEADERS.eventId]: meta.eventId,
          [WEBHOOK_HEADERS.delivery]: meta.deliveryId,
          [WEBHOOK_HEADERS.attempt]: String(meta.attempt),
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(endpoint.secret, timestamp, body),
        },
        body,
      });
      // The body is not read: only the status counts, and a big answer must not hold the try.
      await res.body?.cancel().catch(() => undefined);
      return { statusCode: res.status, error: res.ok ? null : `HTTP ${res.status}`, durationMs: performance.now() - t0 };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const error = err.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : [err.message, err.cause?.code ?? err.cause?.message].filter(Boolean).join(': ');
      return { statusCode: null, error: error.slice(0, MAX_ERROR), durationMs: performance.now() - t0 };
    }
  }

  /** The next delivery of the endpoint waited behind the one that just ended: try it now. */
  private async wakeNext(endpointId: string): Promise<void> {
    const next = await this.hooks.nextWaiting(endpointId);
    if (!next) return;
    const job = await this.queue.getJob(next);
    if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => undefined);
  }
}
