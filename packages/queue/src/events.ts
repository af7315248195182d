import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { CANCEL_CHANNEL, eventChannel, type ExperimentEvent } from '@capillary/contracts';

export type { ExperimentEvent };

/** Publishes experiment events and cancellations over Redis pub/sub. */
export class EventPublisher {
  constructor(private readonly redis: Redis) {}

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
  private readonly counts = new Map<string, number>();

  constructor(private readonly redis: Redis) {
    this.emitter.setMaxListeners(0);
    redis.on('message', (channel: string, message: string) => this.emitter.emit(channel, message));
  }

  /** Calls `listener` with each raw message on the channel; returns the unsubscribe function. */
  async on(channel: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    this.emitter.on(channel, listener);
    const n = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, n);
    if (n === 1) await this.redis.subscribe(channel);
    return async () => {
      this.emitter.off(channel, listener);
      const left = (this.counts.get(channel) ?? 1) - 1;
      this.counts.set(channel, left);
      if (left === 0) {
        this.counts.delete(channel);
        await this.redis.unsubscribe(channel).catch(() => {});
      }
    };
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
