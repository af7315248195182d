import type { Status } from '../types.ts';

export function StatusBadge({ status }: { status: Status | string }) {
  return (
    <span class={`badge status-${status}`} data-status-badge={status}>
      {status}
    </span>
  );
}
