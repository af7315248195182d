import { EventEmitter } from 'node:events';
import type { RedisClient } from './connection.ts';
import type { ExperimentEvent } from '@capillary/contracts';
import { CANCEL_CHANNEL, eventChannel } from './redis-keys.ts';

export type { ExperimentEvent };

/** Publishes experiment events and cancellations over Redis pub/sub. */
export class EventPublisher {
  constructor(private readonly redis: RedisClient) {}

  async publish(experimentId: string, event: ExperimentEvent): Promise<void> {
    await this.redis.publish(eventChannel(experimentId), JSON.stringify({ ...event, experimentId, at: new Date().toISOString() }));
  }

  /** Asks whichever worker holds the experiment to stop it. */
  async requestCancel(experimentId: string): Promise<void> {
    await this.redis.publish(CANCEL_CHANNEL, experimentId);
  }
}

/**
 * One Redis subscriber per process, fanned out to many listeners (SSE clients, the worker's cancel
 * handler), because a subscribed ioredis connection can do nothing else.
 */
export class EventSubscriber {
  private readonly emitter = new EventEmitter();
  /** Listeners per channel, and the SUBSCRIBE every listener of a channel waits for. */
  private readonly channels = new Map<string, { listeners: number; subscribed: Promise<unknown> }>();

  constructor(private readonly redis: RedisClient) {
    this.emitter.setMaxListeners(0);
    redis.on('message', (channel: string, message: string) => this.emitter.emit(channel, message));
  }

  /**
   * Calls `listener` with each raw message on the channel once the subscription is live; returns the
   * unsubscribe function (idempotent). A failed SUBSCRIBE leaves nothing behind.
   */
  async on(channel: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { listeners: 0, subscribed: this.redis.subscribe(channel) };
      this.channels.set(channel, entry);
    }
    entry.listeners++;
    this.emitter.on(channel, listener);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      this.emitter.off(channel, listener);
      const e = this.channels.get(channel);
      if (!e || --e.listeners > 0) return;
      this.channels.delete(channel);
      await this.redis.unsubscribe(channel).catch(() => {});
    };
    try {
      await entry.subscribed;
    } catch (e) {
      await stop();
      throw e;
    }
    return stop;
  }

  /** Listeners attached in this process (all channels). */
  listenerCount(): number {
    let n = 0;
    for (const channel of this.channels.keys()) n += this.emitter.listenerCount(channel);
    return n;
  }

  /** Channels this process is subscribed to (or subscribing). */
  subscribedChannels(): string[] {
    return [...this.channels.keys()];
  }

  async onExperiment(experimentId: string, listener: (event: ExperimentEvent & { at: string }) => void) {
    return this.on(eventChannel(experimentId), (m) => listener(JSON.parse(m)));
  }

  async onCancel(listener: (experimentId: string) => void) {
    return this.on(CANCEL_CHANNEL, listener);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
