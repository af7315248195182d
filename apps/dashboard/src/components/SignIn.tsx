import { useEffect, useRef, useState } from 'preact/hooks';
import { signInWithKey, useSession } from '../session.ts';

/**
 * Signing in: an API key, exchanged at once for the session cookie (the key is kept nowhere in
 * the browser), or single sign-on when the API offers it.
 */
export function SignIn({ reason }: { reason?: string | null }) {
  const { config } = useSession();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signInWithKey(key);
      setKey('');
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="sign-in" data-testid="sign-in">
      <h1>Sign in</h1>
      {reason && <p>{reason}</p>}
      {config?.oidc && (
        <p>
          <a class="button" href="/auth/oidc/login" data-testid="sso">
            Sign in with SSO
          </a>
        </p>
      )}
      <form onSubmit={submit} data-testid="key-form">
        <label>
          {config?.oidc ? 'or with an API key' : 'API key'}
          <input ref={input} name="apiKey" type="password" autocomplete="off" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        </label>
        <p class="muted">Create one on the server with <code>npx capillary api-key create --name you</code>. It is exchanged for a session and not kept in this browser.</p>
        {error && (
          <p class="error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || !key.trim()}>
          sign in
        </button>
      </form>
    </section>
  );
}
