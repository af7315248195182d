import { describe, expect, it } from 'vitest';
import { hashTag, parseEnv } from './env.ts';
import { ValidationError } from './validate.ts';

const base = { DATABASE_URL: 'postgresql://x@127.0.0.1/db', REDIS_URL: 'redis://127.0.0.1:6379', S3_ENDPOINT: 'http://127.0.0.1:9000' };

describe('queue prefix and Redis Cluster settings', () => {
  it('defaults to a hash-tagged prefix on a standalone Redis', () => {
    const env = parseEnv(base);
    expect(env.QUEUE_PREFIX).toBe('{capillary}');
    expect(env.REDIS_CLUSTER).toBe(false);
  });

  it('refuses a prefix without a hash tag on a cluster, naming QUEUE_PREFIX; a standalone Redis takes it', () => {
    expect(() => parseEnv({ ...base, REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'bull' })).toThrow(ValidationError);
    expect(() => parseEnv({ ...base, REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{}bull{x}' })).toThrow(/QUEUE_PREFIX/);
    expect(parseEnv({ ...base, QUEUE_PREFIX: 'bull' }).QUEUE_PREFIX).toBe('bull');
    expect(parseEnv({ ...base, REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'app{jobs}' }).QUEUE_PREFIX).toBe('app{jobs}');
  });

  it('finds the hash tag the way Redis does', () => {
    expect(hashTag('{capillary}:training:wait')).toBe('capillary');
    expect(hashTag('a{b}{c}')).toBe('b');
    expect(hashTag('{}{c}')).toBeNull();
    expect(hashTag('x{y')).toBeNull();
    expect(hashTag('bull:training:wait')).toBeNull();
  });
});

describe('WORKER_MEMORY_MB', () => {
  it('is unset by default (the worker detects it), takes fractional megabytes, and refuses 0 naming the variable', () => {
    expect(parseEnv(base).WORKER_MEMORY_MB).toBeUndefined();
    expect(parseEnv({ ...base, WORKER_MEMORY_MB: '2.75' }).WORKER_MEMORY_MB).toBe(2.75);
    expect(() => parseEnv({ ...base, WORKER_MEMORY_MB: '0' })).toThrow(/WORKER_MEMORY_MB/);
  });
});
