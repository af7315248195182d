import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook, newWebhookSecret } from './webhooks.ts';

describe('webhook signatures', () => {
  const secret = 'whsec_test-secret-of-some-length';
  const body = JSON.stringify({ id: 'e1', type: 'experiment.succeeded' });
  const now = 1_767_000_000_000;
  const ts = Math.floor(now / 1000);

  it('is v1= and the hex HMAC-SHA256 of "timestamp.body" under the secret', () => {
    const expected = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    expect(signWebhook(secret, ts, body)).toBe(`v1=${expected}`);
  });

  it('verifies its own signature, and refuses another body, secret or timestamp', () => {
    const signature = signWebhook(secret, ts, body);
    expect(verifyWebhook(secret, body, { timestamp: String(ts), signature }, 300, now)).toBe(true);
    expect(verifyWebhook(secret, `${body} `, { timestamp: String(ts), signature }, 300, now)).toBe(false);
    expect(verifyWebhook(`${secret}x`, body, { timestamp: String(ts), signature }, 300, now)).toBe(false);
    expect(verifyWebhook(secret, body, { timestamp: String(ts + 1), signature }, 300, now)).toBe(false);
    expect(verifyWebhook(secret, body, { timestamp: String(ts), signature: undefined }, 300, now)).toBe(false);
  });

  it('refuses a timestamp outside the tolerance (a replayed delivery)', () => {
    const old = ts - 301;
    expect(verifyWebhook(secret, body, { timestamp: String(old), signature: signWebhook(secret, old, body) }, 300, now)).toBe(false);
    expect(verifyWebhook(secret, body, { timestamp: 'soon', signature: signWebhook(secret, ts, body) }, 300, now)).toBe(false);
  });

  it('accepts any one of several signatures (a rotated secret)', () => {
    const both = `${signWebhook('old-secret', ts, body)}, ${signWebhook(secret, ts, body)}`;
    expect(verifyWebhook(secret, body, { timestamp: String(ts), signature: both }, 300, now)).toBe(true);
  });

  it('makes secrets that differ and carry 256 bits', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });
});
