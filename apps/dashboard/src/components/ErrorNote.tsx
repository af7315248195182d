import { ApiError } from '../api.ts';

/** An error from the API or the network, said in one line (with the per-field issues, if any). */
export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const issues = error instanceof ApiError ? error.issues : [];
  return (
    <div class="error" role="alert">
      {error.message}
      {issues.length > 0 && (
        <ul>
          {issues.map((i) => (
            <li key={i.field + i.message}>
              <code>{i.field}</code> {i.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
