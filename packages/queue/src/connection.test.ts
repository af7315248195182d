import { describe, expect, it } from 'vitest';
import { clusterSeeds } from './connection.ts';

describe('Redis Cluster seed nodes from REDIS_URL', () => {
  it('takes every node of a comma-separated list and the credentials and TLS of the first', () => {
    const seeds = clusterSeeds('rediss://app:s%40cret@10.0.0.1:7000, rediss://10.0.0.2:7001,rediss://redis-3');
    expect(seeds.nodes).toEqual([{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: 'redis-3', port: 6379 }]);
    expect(seeds.auth).toEqual({ username: 'app', password: 's@cret', tls: {} });
  });

  it('a plain URL brings no credentials', () => {
    expect(clusterSeeds('redis://127.0.0.1:17101').auth).toEqual({});
  });
});
