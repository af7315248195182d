import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import dashboardRoutes from './dashboard.ts';

const INDEX = '<!doctype html><title>Capillary</title><div id="app"></div><script type="module" src="/assets/index-abc123.js"></script>';
let dir: string;
let built: FastifyInstance;
let bare: FastifyInstance;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'capillary-dist-'));
  mkdirSync(path.join(dir, 'dist', 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'dist', 'index.html'), INDEX);
  writeFileSync(path.join(dir, 'dist', 'assets', 'index-abc123.js'), 'console.log(1)');
  built = Fastify();
  built.get('/experiments/:id', async () => ({ json: true }));
  await built.register(dashboardRoutes, { dist: path.join(dir, 'dist') });
  bare = Fastify();
  await bare.register(dashboardRoutes, { dist: path.join(dir, 'missing') });
});

afterAll(async () => {
  await Promise.all([built?.close(), bare?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard routes', () => {
  it('serves index.html at / and at every client route under /app, revalidated each time', async () => {
    for (const url of ['/', '/app', '/app/experiments/123', '/app/predictions?volume=x']) {
      const res = await built.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toBe(INDEX);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
    }
  });

  it('serves hashed assets with a long cache life, and 404 for missing ones', async () => {
    const res = await built.inject({ url: '/assets/index-abc123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('console.log(1)');
    expect(res.headers['cache-control']).toMatch(/immutable/);
    expect((await built.inject({ url: '/assets/nope.js' })).statusCode).toBe(404);
  });

  it('leaves the API routes of the same names alone', async () => {
    const res = await built.inject({ url: '/experiments/123' });
    expect(res.json()).toEqual({ json: true });
  });

  it('without a build, says how to build instead of failing', async () => {
    const res = await bare.inject({ url: '/app/queue' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('npm run build -w @capillary/dashboard');
  });
});
