import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  HeadObjectCommand,
  CreateBucketCommand,
  HeadBucketCommand,
  NoSuchKey,
  NotFound,
} from '@aws-sdk/client-s3';
import { env } from '@capillary/contracts';

import { traceS3Calls } from './tracing.ts';

export * from './keys.ts';

// Node 20 is this project's fixed runtime; the SDK's notice about its future Node 22 floor would
// otherwise print in every process.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let client: S3Client | undefined;

/** The process's S3 client, configured from the environment (path-style for s3rver and MinIO). */
export function s3Client(): S3Client {
  if (client) return client;
  const e = env();
  client = new S3Client({
    endpoint: e.S3_ENDPOINT,
    region: e.S3_REGION,
    forcePathStyle: e.S3_FORCE_PATH_STYLE,
    credentials: { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY },
    // s3rver stores aws-chunked framing verbatim when the SDK adds checksums to streamed bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  traceS3Calls(client);
  return client;
}

export function bucketName(): string {
  return env().S3_BUCKET;
}

/** Creates the bucket when it does not exist yet. */
export async function ensureBucket(): Promise<void> {
  const Bucket = bucketName();
  try {
    await s3Client().send(new HeadBucketCommand({ Bucket }));
  } catch {
    await s3Client().send(new CreateBucketCommand({ Bucket }));
  }
}

/** Answers when the bucket is reachable; throws otherwise (health checks, outage probes). */
export async function headBucket(): Promise<void> {
  await s3Client().send(new HeadBucketCommand({ Bucket: bucketName() }));
}

export async function putObject(key: string, body: Uint8Array | Buffer | string, contentType?: string): Promise<void> {
  await s3Client().send(new PutObjectCommand({ Bucket: bucketName(), Key: key, Body: body, ContentType: contentType }));
}

/** The object's bytes, or null when there is no such key. */
export async function getObject(key: string): Promise<Uint8Array | null> {
  try {
    const res = await s3Client().send(new GetObjectCommand({ Bucket: bucketName(), Key: key }));
    return res.Body ? await res.Body.transformToByteArray() : new Uint8Array(0);
  } catch (e) {
    if (e instanceof NoSuchKey || (e as { name?: string }).name === 'NoSuchKey') return null;
    throw e;
  }
}

/** A readable stream of the object, for downloads that should not be buffered. */
export async function getObjectStream(key: string) {
  const res = await s3Client().send(new GetObjectCommand({ Bucket: bucketName(), Key: key }));
  return { body: res.Body as NodeJS.ReadableStream, contentLength: res.ContentLength, contentType: res.ContentType };
}

export async function objectSize(key: string): Promise<number | null> {
  try {
    const res = await s3Client().send(new HeadObjectCommand({ Bucket: bucketName(), Key: key }));
    return res.ContentLength ?? 0;
  } catch (e) {
    if (e instanceof NotFound || (e as { name?: string }).name === 'NotFound') return null;
    throw e;
  }
}

export async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3Client().send(
      new ListObjectsV2Command({ Bucket: bucketName(), Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Deletes every object under a prefix (in pages of 1000, the S3 limit). */
export async function deletePrefix(prefix: string): Promise<number> {
  const keys = await listKeys(prefix);
  await deleteObjects(keys);
  return keys.length;
}

/** Deletes the named objects (in pages of 1000, the S3 limit); a key already gone is no error. */
export async function deleteObjects(keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const res = await s3Client().send(
      new DeleteObjectsCommand({
        Bucket: bucketName(),
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
    // Per-key failures come back in the body of a 200, not as an exception.
    const failed = res.Errors ?? [];
    if (failed.length) throw new Error(`S3 refused to delete ${failed.length} object(s), first ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message ?? ''}`);
  }
}
