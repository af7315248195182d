import { csvRows } from './csv-rows.ts';
import { RleError, ScoringInputError } from './errors.ts';
import { rleDecodeInto } from './rle.ts';
import { SurfaceDiceStream } from './surface-dice-stream.ts';

/** Mean surface Dice over volumes, and each volume's score; `reasons` explains every `null`. */
export interface ScoreResult {
  score: number | null;
  perImage: Record<string, number | null>;
  reasons?: Record<string, string>;
}

/** Progress of {@link scoreSubmission}, reported after each scored slice. */
export interface ScoreProgress {
  image: string;
  slicesDone: number;
  slicesTotal: number;
}

export interface ScoreOptions {
  onProgress?: (progress: ScoreProgress) => void;
}

interface SolutionRow {
  id: string;
  slice: number;
  width: number;
  height: number;
  rle: string;
  line: number;
}

interface SubmissionRow {
  rle: string;
  line: number;
}

export const SOLUTION_COLUMNS = ['id', 'rle', 'width', 'height', 'image', 'slice'] as const;
export const SUBMISSION_COLUMNS = ['id', 'rle'] as const;

function integerField(value: string, name: string, min: number, file: string, line: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new ScoringInputError(`${name} must be an integer >= ${min}, got "${value}"`, file, line);
  }
  return n;
}

async function readSubmission(file: string): Promise<Map<string, SubmissionRow>> {
  const rows = new Map<string, SubmissionRow>();
  for await (const { fields, line } of csvRows(file, SUBMISSION_COLUMNS)) {
    const previous = rows.get(fields.id);
    if (previous) throw new ScoringInputError(`duplicate id "${fields.id}" (first at line ${previous.line})`, file, line);
    rows.set(fields.id, { rle: fields.rle, line });
  }
  return rows;
}

/** Solution rows grouped by image, images in order of first appearance. */
async function readSolution(file: string, submission: Map<string, SubmissionRow>, submissionFile: string) {
  const images = new Map<string, SolutionRow[]>();
  const seen = new Set<string>();
  for await (const { fields, line } of csvRows(file, SOLUTION_COLUMNS)) {
    if (seen.has(fields.id)) throw new ScoringInputError(`duplicate id "${fields.id}"`, file, line);
    seen.add(fields.id);
    if (!submission.has(fields.id)) {
      throw new ScoringInputError(`id "${fields.id}" (line ${line} of ${file}) is missing from the submission`, submissionFile);
    }
    const row: SolutionRow = {
      id: fields.id,
      slice: integerField(fields.slice, 'slice', 0, file, line),
      width: integerField(fields.width, 'width', 1, file, line),
      height: integerField(fields.height, 'height', 1, file, line),
      rle: fields.rle,
      line,
    };
    const list = images.get(fields.image);
    if (list) list.push(row);
    else images.set(fields.image, [row]);
  }
  const extra = [...submission.entries()].find(([id]) => !seen.has(id));
  if (extra) {
    throw new ScoringInputError(`id "${extra[0]}" is not in the solution ${file}`, submissionFile, extra[1].line);
  }
  return images;
}

function decode(rle: string, target: Uint8Array, file: string, line: number, id: string): Uint8Array {
  try {
    return rleDecodeInto(rle, target);
  } catch (e) {
    if (e instanceof RleError) throw new ScoringInputError(`bad RLE for "${id}": ${e.message}`, file, line);
    throw e;
  }
}

/**
 * Scores a submission against a solution as the competition does: per image (volume), slices in
 * `slice` order, 3D surface Dice at tolerance 0; the score is the mean over images whose score is
 * defined. A single-slice image is scored as a one-voxel-thick slab (zero padding above and below).
 * Memory: the RLE text of both files plus two slices; volumes are never decoded whole.
 * @param solutionCsv path of the solution (`id,rle,width,height,image,slice`)
 * @param submissionCsv path of the submission (`id,rle`)
 * @throws ScoringInputError naming the file and line for missing columns, missing or extra ids,
 *   duplicate ids or slices, inconsistent slice sizes and malformed RLE.
 */
export async function scoreSubmission(
  solutionCsv: string,
  submissionCsv: string,
  options: ScoreOptions = {},
): Promise<ScoreResult> {
  const submission = await readSubmission(submissionCsv);
  const images = await readSolution(solutionCsv, submission, submissionCsv);
  const perImage: Record<string, number | null> = {};
  const reasons: Record<string, string> = {};
  for (const [image, rows] of images) {
    rows.sort((a, b) => a.slice - b.slice);
    const { width, height } = rows[0];
    const stream = new SurfaceDiceStream(height, width);
    const truth = new Uint8Array(height * width);
    const pred = new Uint8Array(height * width);
    rows.forEach((row, i) => {
      if (i > 0 && row.slice === rows[i - 1].slice) {
        throw new ScoringInputError(`image "${image}" has slice ${row.slice} twice (line ${rows[i - 1].line})`, solutionCsv, row.line);
      }
      if (row.width !== width || row.height !== height) {
        throw new ScoringInputError(
          `image "${image}" slice ${row.slice} is ${row.height} x ${row.width}, other slices are ${height} x ${width}`,
          solutionCsv,
          row.line,
        );
      }
      const sub = submission.get(row.id)!;
      decode(row.rle, truth, solutionCsv, row.line, row.id);
      decode(sub.rle, pred, submissionCsv, sub.line, row.id);
      stream.push(truth, pred);
      // Free the text as we go so memory falls while a large solution is scored.
      row.rle = '';
      submission.delete(row.id);
      options.onProgress?.({ image, slicesDone: i + 1, slicesTotal: rows.length });
    });
    const result = stream.result();
    perImage[image] = result.surfaceDice;
    if (result.surfaceDice === null) reasons[image] = result.reason ?? 'undefined score';
  }
  const defined = Object.values(perImage).filter((v): v is number => v !== null);
  const score = defined.length === 0 ? null : defined.reduce((a, b) => a + b, 0) / defined.length;
  return Object.keys(reasons).length > 0 ? { score, perImage, reasons } : { score, perImage };
}
