// Traces through OpenTelemetry: the SDK of a process (configured by the OTEL_* environment), the
// hooks that give Fastify, BullMQ and Prisma spans, and Capillary's own spans.
export { startTelemetry, stopTelemetry, tracingConfigured, tracingEnabled, fastifyTracing, bullmqTelemetry } from './sdk.ts';
export { tracer, withSpan, inSpan, startChildSpan, recordFailure, activeTraceparent, spanContextOf, linkToOrigin, traceFields } from './spans.ts';
export { SpanKind, type Span } from '@opentelemetry/api';
