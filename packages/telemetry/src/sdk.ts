// The OpenTelemetry SDK of a Capillary process, configured by the standard OTEL_* environment
// (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ...).
// Off unless that environment names an exporter: a process without it creates no spans at all.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { PrismaInstrumentation } from '@prisma/instrumentation';

let sdk: NodeSDK | undefined;
let fastify: FastifyOtelInstrumentation | undefined;

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
 * Starts the SDK once per process, if the environment asks for traces. `service` is the default
 * service name (OTEL_SERVICE_NAME wins). Prisma's instrumentation gives every query and
 * transaction a span; Fastify's is registered by the app itself (`fastifyTracing`).
 */
export function startTelemetry(service: string): boolean {
  if (sdk) return true;
  if (!tracingConfigured()) return false;
  fastify = new FastifyOtelInstrumentation({ ignorePaths: (opts: { url: string }) => opts.url === '/health' || opts.url === '/metrics' });
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
  await running?.shutdown().catch(() => undefined);
}

/** The Fastify plugin that gives each request a span (and reads an incoming traceparent); undefined when tracing is off. */
export function fastifyTracing() {
  return fastify?.plugin();
}
