import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { rleEncode } from './rle.ts';

/** Row id of a slice in the competition's files: `<image>_<slice as 4 digits>`, e.g. `kidney_5_0000`. */
export function sliceId(image: string, sliceIndex: number): string {
  if (!Number.isInteger(sliceIndex) || sliceIndex < 0) throw new RangeError(`slice index must be an integer >= 0, got ${sliceIndex}`);
  return `${image}_${String(sliceIndex).padStart(4, '0')}`;
}

/**
 * Writes predicted masks as a submission CSV (`id,rle`) to a Node stream, one row per slice, waiting
 * for the stream to drain so a whole kidney never piles up in memory.
 */
export class SubmissionWriter {
  private headerWritten = false;
  private rows = 0;

  constructor(private readonly out: Writable) {}

  /** Number of slice rows written so far. */
  get rowCount(): number {
    return this.rows;
  }

  /** Writes the row for one predicted slice (row-major H x W, nonzero = vessel). */
  async write(image: string, sliceIndex: number, mask: Uint8Array): Promise<void> {
    let text = stringify([[sliceId(image, sliceIndex), rleEncode(mask)]]);
    if (!this.headerWritten) {
      text = `id,rle\n${text}`;
      this.headerWritten = true;
    }
    this.rows++;
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  /** Writes the header if no row was written, ends the stream and waits until it has flushed. */
  async end(): Promise<void> {
    const finished = once(this.out, 'finish');
    this.out.end(this.headerWritten ? undefined : 'id,rle\n');
    this.headerWritten = true;
    await finished;
  }
}
