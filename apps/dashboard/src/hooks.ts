import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  reload(): void;
}

/**
 * Loads `fetcher` now, and again every `everyMs` (a function of the last answer, so a page can poll
 * fast while something runs and slowly once all is settled; 0 stops polling). Polling pauses while
 * the tab is hidden.
 */
export function usePolled<T>(fetcher: (signal: AbortSignal) => Promise<T>, deps: unknown[], everyMs: number | ((data: T | undefined) => number) = 0): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [tick, setTick] = useState(0);
  const interval = useRef(everyMs);
  interval.current = everyMs;
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    setData(undefined);
    setError(undefined);
  }, deps);

  useEffect(() => {
    const ctrl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last: T | undefined;
    const run = async () => {
      if (document.visibilityState !== 'hidden') {
        try {
          last = await fetcher(ctrl.signal);
          if (ctrl.signal.aborted) return;
          setData(last);
          setError(undefined);
        } catch (e) {
          if (ctrl.signal.aborted) return;
          setError(e as Error);
        }
      }
      const ms = typeof interval.current === 'function' ? interval.current(last) : interval.current;
      if (ms > 0 && !ctrl.signal.aborted) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      ctrl.abort();
      clearTimeout(timer);
    };
  }, [...deps, tick]);

  return { data, error, reload };
}
