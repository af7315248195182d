import { useEffect, useRef, useState } from 'preact/hooks';
import { onKeyRequest, type KeyRequest } from '../api-key.ts';

/** The one place the API key is typed: opened by any action that needs a key and has none. */
export function KeyDialog() {
  const [request, setRequest] = useState<KeyRequest | null>(null);
  const [value, setValue] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => onKeyRequest(setRequest), []);
  useEffect(() => {
    if (request) {
      setValue('');
      input.current?.focus();
    }
  }, [request]);
  if (!request) return null;
  return (
    <div class="modal-backdrop">
      <form
        class="modal"
        data-testid="api-key-dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) request.resolve(value);
        }}
      >
        <h2>API key</h2>
        <p>{request.reason}</p>
        <p class="muted">It is kept in this browser (localStorage) until you forget it.</p>
        <input ref={input} name="apiKey" type="password" autocomplete="off" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        <div class="actions">
          <button type="submit" disabled={!value.trim()}>
            save
          </button>
          <button type="button" onClick={() => request.reject(new Error('No API key given.'))}>
            cancel
          </button>
        </div>
      </form>
    </div>
  );
}
