import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse, CsvError } from 'csv-parse';
import { ScoringInputError } from './errors.ts';

/** One data row of a CSV file, with the 1-based line it ends on. */
export interface CsvRow {
  fields: Record<string, string>;
  line: number;
}

/**
 * Streams the rows of a CSV file with a header, checking that the header has every column in
 * `required`. Parse and I/O errors become {@link ScoringInputError}s naming the file and line.
 */
export async function* csvRows(file: string, required: readonly string[]): AsyncGenerator<CsvRow> {
  const parser = createReadStream(file).on('error', (e) => parser.destroy(e)).pipe(
    parse({
      bom: true,
      info: true,
      skip_empty_lines: true,
      columns: (header: string[]) => {
        const names = header.map((h) => h.trim());
        const missing = required.filter((c) => !names.includes(c));
        if (missing.length > 0) {
          throw new ScoringInputError(
            `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (header: ${names.join(',')})`,
            file,
            1,
          );
        }
        return names;
      },
    }),
  );
  let headerSeen = false;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      headerSeen = true;
      yield { fields: record, line: info.lines };
    }
  } catch (e) {
    if (e instanceof ScoringInputError) throw e;
    if (e instanceof CsvError) throw new ScoringInputError(e.message, file, (e as CsvError & { lines?: number }).lines);
    const err = e as NodeJS.ErrnoException;
    throw new ScoringInputError(`cannot read file (${err.code ?? err.message})`, file);
  }
  if (!headerSeen && required.length > 0) {
    // An empty file never calls `columns`; a header-only file is a valid file with no rows.
    if ((await stat(file)).size === 0) throw new ScoringInputError('file is empty (expected a header line)', file);
  }
}
