/**
 * Counts open long-lived streams per client and in total, so one client (or all of them together)
 * cannot hold more than its share of connections, timers and subscriptions.
 */
export class StreamSlots {
  private readonly perClient = new Map<string, number>();
  private total = 0;

  constructor(
    readonly maxPerClient: number,
    readonly maxTotal: number,
  ) {}

  /**
   * Takes a slot for `client`; returns its release function (idempotent), or why there is none.
   */
  acquire(client: string): { release: () => void } | { refused: 'client' | 'total' } {
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.maxPerClient) return { refused: 'client' };
    if (this.total >= this.maxTotal) return { refused: 'total' };
    this.perClient.set(client, mine + 1);
    this.total++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.perClient.get(client) ?? 1) - 1;
        if (left > 0) this.perClient.set(client, left);
        else this.perClient.delete(client);
      },
    };
  }

  /** Streams open now, and how many clients hold them. */
  get open(): { total: number; clients: number } {
    return { total: this.total, clients: this.perClient.size };
  }
}
