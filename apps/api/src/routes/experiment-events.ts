import type { ServerResponse } from 'node:http';
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Env } from '@capillary/contracts';
import type { ExperimentEvent } from '@capillary/queue';
import { ErrorBody } from '@capillary/contracts/api';
import { HttpError } from '../services/errors.ts';
import { StreamSlots } from '../services/stream-slots.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Open experiment event streams (for operators and tests). */
    eventStreams: { readonly open: { total: number; clients: number } };
  }
}

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'stopped']);
const KEEP_ALIVE_MS = 15_000;

/**
 * `GET /experiments/:id/events`: Server-Sent Events of one experiment. Streams are capped per
 * client and in total; each holds a slot, a keep-alive timer and a pub/sub listener, all released
 * whenever and however the stream ends (client gone at any point, terminal status, server closing).
 */
export default fp<{ env: Env }>(async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const slots = new StreamSlots(opts.env.SSE_MAX_PER_CLIENT, opts.env.SSE_MAX_TOTAL);
  const streams = new Set<ServerResponse>();
  app.decorate('eventStreams', { get open() { return slots.open; } });
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });

  /** The user when signed in, else the address (anonymous readers): what the cap counts by. */
  const clientOf = (req: FastifyRequest) => (req.principal?.userId ? `user:${req.principal.userId}` : `ip:${req.ip}`);

  app.get('/experiments/:id/events', {
    schema: {
      summary: 'Server-Sent Events: a snapshot, then status, progress and epoch results as they happen; ends after a terminal status',
      params: IdParams,
      response: { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody },
    },
    config: { rateLimit: { max: opts.env.SSE_RATE_LIMIT_MAX, timeWindow: '1 minute' }, action: 'experiment.read' },
  }, async (req, reply) => {
    const { id } = req.params;
    const res = reply.raw;
    let closed = false;
    let release: (() => void) | undefined;
    let unsubscribe: (() => Promise<void>) | undefined;
    let keepAlive: NodeJS.Timeout | undefined;
    const cleanup = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      streams.delete(res);
      release?.();
      if (unsubscribe) void unsubscribe();
    };
    // Attached before the first await: a client leaving at any later point runs cleanup. One that
    // left before is seen through `res.destroyed`, checked after every await.
    res.once('close', cleanup);
    const gone = () => {
      if (res.destroyed) cleanup();
      return closed;
    };
    const send = (event: string, data: unknown) => {
      if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const end = () => {
      res.end();
      cleanup();
    };
    const forward = (e: ExperimentEvent) => {
      send(e.type, e);
      if (e.type === 'status' && TERMINAL.has(e.status)) end();
    };

    const client = clientOf(req);
    if (gone()) return reply.hijack();
    const slot = slots.acquire(client);
    if ('refused' in slot) {
      throw new HttpError(429, slot.refused === 'client'
        ? `too many event streams: at most ${slots.maxPerClient} open per client`
        : `too many event streams: this server holds at most ${slots.maxTotal}`);
    }
    release = slot.release;
    try {
      // Subscribe before reading the snapshot, holding events back until it is sent, so nothing
      // that happens in between is lost and the snapshot always comes first.
      let held: ExperimentEvent[] | null = [];
      const stop = await app.events.onExperiment(id, (e) => (held ? held.push(e) : forward(e)));
      unsubscribe = stop;
      if (gone()) {
        void stop();
        return reply.hijack();
      }
      const experiment = await app.experiments.get(id); // 404 before the stream opens
      if (gone()) return reply.hijack();
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      streams.add(res);
      send('snapshot', { status: experiment.status, epochMetrics: experiment.epochMetrics, score: experiment.score });
      // Finished before the stream opened: nothing more will happen.
      if (TERMINAL.has(experiment.status)) return end();
      for (const e of held) if (!closed) forward(e);
      held = null;
      if (!closed) keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    } catch (e) {
      cleanup();
      throw e;
    }
  });
}, { name: 'experiment-events', dependencies: ['services'] });
