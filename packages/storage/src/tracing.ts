import type { S3Client } from '@aws-sdk/client-s3';
import { SpanKind, tracingEnabled, withSpan } from '@capillary/telemetry';

/**
 * Gives every call of `client` a client span named for its command, with the bucket and key,
 * through the SDK's own middleware stack. Nothing is added when tracing is off.
 */
export function traceS3Calls(client: S3Client): void {
  if (!tracingEnabled()) return;
  client.middlewareStack.add(
    (next, context) => (args) => {
      const input = args.input as { Bucket?: string; Key?: string; Prefix?: string };
      const method = (context.commandName ?? 'Command').replace(/Command$/, '');
      const attributes = {
        'rpc.system': 'aws-api', 'rpc.service': 'S3', 'rpc.method': method,
        ...(input.Bucket ? { 'aws.s3.bucket': input.Bucket } : {}),
        ...(input.Key ? { 'aws.s3.key': input.Key } : {}),
        ...(input.Prefix ? { 'aws.s3.prefix': input.Prefix } : {}),
      };
      return withSpan(`S3.${method}`, { kind: SpanKind.CLIENT, attributes }, () => next(args));
    },
    { step: 'initialize', name: 'capillaryTracing' },
  );
}
