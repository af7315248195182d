import { useEffect, useState } from 'preact/hooks';
import type { EpochMetric, Status } from './types.ts';

export interface Progress {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
}

export interface LiveState {
  connected: boolean;
  status: Status | null;
  score: number | null;
  epochs: EpochMetric[];
  progress: Progress | null;
  /** Bumped on every status event, so the page refetches attempts and checkpoints. */
  statusChanges: number;
  lastError: string | null;
}

/** The server ends the stream after these; EventSource would reconnect to a finished experiment forever. */
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'stopped']);

const INITIAL: LiveState = { connected: false, status: null, score: null, epochs: [], progress: null, statusChanges: 0, lastError: null };

function mergeEpoch(list: EpochMetric[], e: EpochMetric): EpochMetric[] {
  const out = list.filter((m) => m.epoch !== e.epoch);
  out.push(e);
  return out.sort((a, b) => a.epoch - b.epoch);
}

/**
 * Follows `GET /experiments/:id/events`: the snapshot first, then status, progress and epoch events.
 * EventSource reconnects by itself after a drop, and each reconnect starts with a fresh snapshot.
 */
export function useExperimentEvents(id: string): LiveState {
  const [state, setState] = useState<LiveState>(INITIAL);
  useEffect(() => {
    setState(INITIAL);
    const source = new EventSource(`/experiments/${encodeURIComponent(id)}/events`);
    const on = (name: string, fn: (data: any) => void) =>
      source.addEventListener(name, (ev) => {
        try {
          fn(JSON.parse((ev as MessageEvent).data));
        } catch {
          /* a malformed event is skipped, the next snapshot repairs the state */
        }
      });
    source.onopen = () => setState((s) => ({ ...s, connected: true }));
    source.onerror = () => setState((s) => ({ ...s, connected: false }));
    on('snapshot', (d) => {
      setState((s) => ({ ...s, connected: true, status: d.status, score: d.score ?? null, epochs: [...(d.epochMetrics ?? [])].sort((a, b) => a.epoch - b.epoch) }));
      if (TERMINAL.has(d.status)) source.close();
    });
    on('status', (d) => {
      setState((s) => ({ ...s, status: d.status, statusChanges: s.statusChanges + 1, lastError: d.error ?? s.lastError, progress: d.status === 'running' ? s.progress : null }));
      if (TERMINAL.has(d.status)) source.close();
    });
    on('progress', (d) => setState((s) => ({ ...s, progress: { epoch: d.epoch, step: d.step, steps: d.steps, loss: d.loss } })));
    on('epoch', (d) => {
      const { type: _t, experimentId: _e, at: _a, ...metric } = d;
      setState((s) => {
        const epochs = mergeEpoch(s.epochs, metric as EpochMetric);
        const best = Math.max(...epochs.map((m) => m.surfaceDice ?? -Infinity));
        return { ...s, epochs, score: Number.isFinite(best) ? best : s.score };
      });
    });
    return () => source.close();
  }, [id]);
  return state;
}
