import { BullMQOtel } from 'bullmq-otel';
import { tracingEnabled } from './sdk.ts';

/**
 * BullMQ's `telemetry` option when tracing is on: adding a job records its trace context in the
 * job, and processing it continues that trace (a worker's `process` span is the child of the
 * `add` span), across processes and retries. Undefined when tracing is off.
 */
export function bullmqTelemetry(): BullMQOtel | undefined {
  return tracingEnabled() ? new BullMQOtel({ tracerName: 'bullmq' }) : undefined;
}
