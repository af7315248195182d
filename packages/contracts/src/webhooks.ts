// What a webhook receiver sees: the event types, the body, the headers and the signature scheme
// (Stripe/Svix style: an HMAC-SHA256 of `${timestamp}.${body}`). docs/platform.md, "Webhooks".
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from 'typebox';

export const WEBHOOK_EVENTS = ['experiment.succeeded', 'experiment.failed', 'sweep.finished'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const WebhookEventName = Type.Enum(WEBHOOK_EVENTS, { description: 'experiment.succeeded | experiment.failed | sweep.finished' });

/** The headers of every delivery (HTTP header names are case-insensitive; Node lowercases them). */
export const WEBHOOK_HEADERS = {
  event: 'capillary-event',
  eventId: 'capillary-event-id',
  delivery: 'capillary-delivery',
  attempt: 'capillary-attempt',
  timestamp: 'capillary-timestamp',
  signature: 'capillary-signature',
} as const;

/** What was experiment-wide at the event: no private score (it is revealed only when closed). */
export const WebhookExperiment = Type.Object({
  id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  sweepId: Type.Union([Type.String(), Type.Null()]),
  dataset: Type.String(),
  score: Type.Union([Type.Number(), Type.Null()]),
  scoreSource: Type.Union([Type.String(), Type.Null()]),
  bestEpoch: Type.Union([Type.Integer(), Type.Null()]),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});

export const WebhookSweep = Type.Object({
  id: Type.String(),
  name: Type.String(),
  strategy: Type.String(),
  trials: Type.Integer(),
  /** trials by final status: succeeded, failed, cancelled, stopped */
  outcomes: Type.Record(Type.String(), Type.Integer()),
  best: Type.Union([Type.Object({ experimentId: Type.String(), score: Type.Number() }), Type.Null()]),
});

/** The JSON body posted: `id` is the event's id, the same for every endpoint and every retry. */
export const WebhookBody = Type.Object({
  id: Type.String(),
  type: WebhookEventName,
  createdAt: Type.String({ format: 'date-time' }),
  project: Type.String(),
  data: Type.Union([Type.Object({ experiment: WebhookExperiment }), Type.Object({ sweep: WebhookSweep })]),
});
export type WebhookBody = Static<typeof WebhookBody>;

/** A fresh endpoint secret when the caller chose none: 32 random bytes. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

/** The `Capillary-Signature` value of `body` sent at `timestamp` (Unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Whether a delivery is genuine: one of the `v1=` signatures (comma-separated, for secret
 * rotation) matches, and the timestamp is within `toleranceS` of `now` (replays of old bodies fail).
 */
export function verifyWebhook(secret: string, body: string, headers: { timestamp: string | undefined; signature: string | undefined }, toleranceS = 300, now = Date.now()): boolean {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(now / 1000 - timestamp) > toleranceS) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  return (headers.signature ?? '').split(',').some((s) => {
    const given = Buffer.from(s.trim());
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
