// Capillary's own spans, and the trace context as it crosses Postgres rows and log lines. Built on
// @opentelemetry/api alone: with no SDK started every call here is a no-op.
import { context, defaultTextMapGetter, propagation, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Span, type SpanContext, type SpanOptions } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** Reads stored traceparents whatever propagator the process configured (none, without an SDK). */
const w3c = new W3CTraceContextPropagator();

/** The tracer of Capillary's own spans (runs, attempts, sandboxes, epochs). */
export const tracer = () => trace.getTracer('capillary');

/** Marks `span` failed with `e`. */
export function recordFailure(span: Span, e: unknown): void {
  const error = e instanceof Error ? e : new Error(String(e));
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message.split('\n')[0] });
}

/**
 * Runs `fn` inside a new active span named `name`, a child of the active one: what `fn` starts
 * (queries, S3 calls, queued jobs) is its child. A throw marks the span failed and passes on.
 */
export function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      recordFailure(span, e);
      throw e;
    } finally {
      span.end();
    }
  });
}

/** Runs `fn` with `span` as the active span (its parent for whatever `fn` starts). */
export function inSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/**
 * The active span as a W3C `traceparent`, to keep beside a row it created (a run's origin):
 * undefined when nothing is traced.
 */
export function activeTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The span a stored `traceparent` names, or undefined for none or a malformed one. */
export function spanContextOf(traceparent: string | null | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const spanContext = trace.getSpanContext(w3c.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter));
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}

/**
 * Links `span` to the span that started its run (`traceparent`, kept on the run's row): a job the
 * reconciler re-created after a hand-over starts a trace of its own, and the link leads back.
 */
export function linkToOrigin(span: Span, traceparent: string | null | undefined, attributes: Attributes = {}): void {
  const origin = spanContextOf(traceparent);
  if (origin) span.addLink({ context: origin, attributes: { 'capillary.link': 'run origin', ...attributes } });
}

/** Fields for a log line: the active trace and span ids (pino's `mixin`), none outside a span. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getSpanContext(context.active());
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/** Starts (does not activate) a span under `parent`, for work whose start and end are events, such as an epoch. */
export function startChildSpan(parent: Span, name: string, attributes: Attributes, startTime?: number): Span {
  return tracer().startSpan(name, { attributes, startTime }, trace.setSpan(context.active(), parent));
}
