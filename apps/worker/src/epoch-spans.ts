import { inSpan, recordFailure, startChildSpan, type Span } from '@capillary/telemetry';

type Attributes = Record<string, string | number | boolean>;

/**
 * The epoch spans of one training sandbox, under its span: an epoch runs from the sandbox's
 * backend report (the first) or the previous commit to its own commit, with the checkpoint upload
 * and the commit's transaction inside it. A span opens once the epoch shows progress, so an epoch
 * that never ran (an early stop) leaves none. No-ops when tracing is off.
 */
export class EpochSpans {
  private open: { epoch: number; span: Span } | undefined;
  private next: { epoch: number; at: number } | undefined;

  constructor(private readonly sandbox: Span, private readonly attributes: Attributes) {}

  /** Epoch `epoch` starts now (its span opens with its first progress). */
  startsNow(epoch: number): void {
    this.next = { epoch, at: Date.now() };
  }

  /** Epoch `epoch` is under way: its span is open from here on. */
  progress(epoch: number): Span | undefined {
    if (this.open?.epoch === epoch) return this.open.span;
    this.close();
    const startTime = this.next?.epoch === epoch ? this.next.at : Date.now();
    const span = startChildSpan(this.sandbox, 'epoch', { ...this.attributes, 'capillary.epoch': epoch }, startTime);
    this.open = { epoch, span };
    return span;
  }

  /** Runs `fn` (epoch `epoch`'s commit) inside that epoch's span. */
  within<T>(epoch: number, fn: () => Promise<T>): Promise<T> {
    const span = this.progress(epoch);
    return span ? inSpan(span, fn) : fn();
  }

  /** The open epoch is committed. */
  committed(attributes: Attributes): void {
    this.open?.span.setAttributes(attributes);
    this.close();
  }

  /** The sandbox ended: an epoch still open ends with it, failed with `error` if the run failed. */
  close(error?: Error): void {
    if (!this.open) return;
    if (error) recordFailure(this.open.span, error);
    this.open.span.end();
    this.open = undefined;
  }
}
