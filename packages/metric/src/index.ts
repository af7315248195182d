/**
 * @capillary/metric: the competition's 3D surface Dice (tolerance 0), streamed slice by slice, its
 * RLE format, and scoring of solution/submission CSV files.
 */
export { SURFACE_AREA_TABLE, marchingCubesArea } from './surface-area-table.ts';
export { SurfaceDiceStream, type SurfaceDiceResult } from './surface-dice-stream.ts';
export { rleEncode, rleDecode, rleDecodeInto } from './rle.ts';
export {
  scoreSubmission,
  SOLUTION_COLUMNS,
  SUBMISSION_COLUMNS,
  type ScoreResult,
  type ScoreProgress,
  type ScoreOptions,
} from './score-submission.ts';
export { SubmissionWriter, sliceId } from './submission-writer.ts';
export { csvRows, type CsvRow } from './csv-rows.ts';
export { RleError, MetricInputError, ScoringInputError } from './errors.ts';
