// The API key lives in localStorage: asked for once, on the first action that needs it, and asked
// for again only when the API refuses it.
const STORAGE_KEY = 'capillary.apiKey';

export interface KeyRequest {
  reason: string;
  resolve(key: string): void;
  reject(error: Error): void;
}

type Listener = (request: KeyRequest | null) => void;
const listeners = new Set<Listener>();
let pending: KeyRequest | null = null;
let waiting: Promise<string> | null = null;

export function storedApiKey(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY) || null;
  } catch {
    return null;
  }
}

export function saveApiKey(key: string): void {
  localStorage.setItem(STORAGE_KEY, key.trim());
  notify();
}

export function forgetApiKey(): void {
  localStorage.removeItem(STORAGE_KEY);
  notify();
}

/** Subscribes to the open key request (null when none); returns the unsubscribe function. */
export function onKeyRequest(listener: Listener): () => void {
  listeners.add(listener);
  listener(pending);
  return () => listeners.delete(listener);
}

function notify() {
  for (const l of listeners) l(pending);
}

/**
 * Opens the key dialog and resolves with the key the user saves; several callers waiting at once
 * share one dialog. Rejects when the user dismisses it.
 */
export function askForApiKey(reason = 'This action needs an API key (create one with `npx capillary api-key create --name you`).'): Promise<string> {
  if (waiting) return waiting;
  waiting = new Promise<string>((resolve, reject) => {
    const done = () => {
      pending = null;
      waiting = null;
      notify();
    };
    pending = {
      reason,
      resolve: (key) => {
        saveApiKey(key);
        done();
        resolve(key.trim());
      },
      reject: (error) => {
        done();
        reject(error);
      },
    };
    notify();
  });
  return waiting;
}
