import { describe, expect, it } from 'vitest';
import { activeTraceparent, spanContextOf, traceFields, tracingConfigured, tracingEnabled, withSpan } from './index.ts';

describe('tracingConfigured: the OTEL_* environment decides', () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_TRACES_EXPORTER: 'none, console' }, true],
    [{ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, false],
  ])('%j -> %s', (environment, expected) => {
    expect(tracingConfigured(environment)).toBe(expected);
  });
});

describe('with no SDK started', () => {
  it('creates nothing: no traceparent to keep, no ids in log lines, and spans still run their work', async () => {
    expect(tracingEnabled()).toBe(false);
    const result = await withSpan('untraced', {}, async () => ({ traceparent: activeTraceparent(), fields: traceFields() }));
    expect(result).toEqual({ traceparent: undefined, fields: {} });
    await expect(withSpan('failing', {}, async () => { throw new Error('passes on'); })).rejects.toThrow('passes on');
  });
});

describe('spanContextOf: a stored traceparent', () => {
  it('names its trace and span when well formed, and nothing otherwise', () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const spanId = '00f067aa0ba902b7';
    expect(spanContextOf(`00-${traceId}-${spanId}-01`)).toMatchObject({ traceId, spanId, traceFlags: 1, isRemote: true });
    for (const bad of [null, undefined, '', 'garbage', `00-${'0'.repeat(32)}-${spanId}-01`]) expect(spanContextOf(bad)).toBeUndefined();
  });
});
