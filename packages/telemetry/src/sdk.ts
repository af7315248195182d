// The OpenTelemetry SDK of a Capillary process, configured by the standard OTEL_* environment
// (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ...).
// Off unless that environment names an exporter: a process without it creates no spans at all.
import type { FastifyOtelInstrumentation } from '@fastify/otel';
import type { NodeSDK } from '@opentelemetry/sdk-node';
import type { BullMQOtel } from 'bullmq-otel';

let sdk: NodeSDK | undefined;
let fastify: FastifyOtelInstrumentation | undefined;
let bullmq: (() => BullMQOtel) | undefined;

/**
 * Whether the environment asks for traces: an exporter named in OTEL_TRACES_EXPORTER (other than
 * `none`), or an OTLP endpoint, and OTEL_SDK_DISABLED not `true`.
 */
export function tracingConfigured(environment: NodeJS.ProcessEnv = process.env): boolean {
  if (environment.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = environment.OTEL_TRACES_EXPORTER?.split(',').map((e) => e.trim()).filter(Boolean);
  if (exporters?.length) return exporters.some((e) => e !== 'none');
  return Boolean(environment.OTEL_EXPORTER_OTLP_ENDPOINT || environment.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** True once `startTelemetry` has started the SDK in this process. */
export const tracingEnabled = () => sdk !== undefined;

/**
 * Starts the SDK once per process, if the environment asks for traces; call it before the
 * process opens queues or builds its server. `service` is the default service name
 * (OTEL_SERVICE_NAME wins). Prisma's instrumentation gives every query and transaction a span;
 * Fastify's is registered by the app itself (`fastifyTracing`), BullMQ's by each queue and worker
 * (`bullmqTelemetry`).
 */
export async function startTelemetry(service: string): Promise<boolean> {
  if (sdk) return true;
  if (!tracingConfigured()) return false;
  // Imported only here: the SDK and its exporters take a second or more to load, which every
  // process (each training sandbox among them) would otherwise pay with tracing off.
  const [{ NodeSDK }, { PrismaInstrumentation }, { FastifyOtelInstrumentation }, { BullMQOtel }] = await Promise.all([
    import('@opentelemetry/sdk-node'), import('@prisma/instrumentation'), import('@fastify/otel'), import('bullmq-otel'),
  ]);
  fastify = new FastifyOtelInstrumentation({ ignorePaths: (route: { url: string }) => route.url === '/health' || route.url === '/metrics' });
  bullmq = () => new BullMQOtel({ tracerName: 'bullmq' });
  sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? service,
    instrumentations: [new PrismaInstrumentation(), fastify],
    // Capillary's metrics are Prometheus' (/metrics): the SDK exports traces only.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return true;
}

/** Exports what is buffered and stops the SDK: call before the process exits, or spans are lost. */
export async function stopTelemetry(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  fastify = undefined;
  bullmq = undefined;
  await running?.shutdown().catch(() => undefined);
}

/** The Fastify plugin that gives each request a span (and reads an incoming traceparent); undefined when tracing is off. */
export function fastifyTracing() {
  return fastify?.plugin();
}

/**
 * BullMQ's `telemetry` option when tracing is on: adding a job records its trace context in the
 * job, and processing it continues that trace (a worker's `process` span is the child of the
 * `add` span), across processes and retries. Undefined when tracing is off.
 */
export function bullmqTelemetry(): BullMQOtel | undefined {
  return bullmq?.();
}
