// The S3 key layout, in one place. Keys that a worker writes carry its attempt number, so an
// attempt that lost its job can never overwrite an object a newer attempt's row points to.

const pad = (n: number, width = 4) => String(n).padStart(width, '0');

/**
 * Root of one imported volume's arrays. The importer derives `importId` from the dataset, the volume
 * name and the source's content hash, so an interrupted import run again finds what it uploaded.
 */
export const volumePrefix = (importId: string, root = 'volumes') => `${root}/${importId}`;
export const volumeArrayKeys = (prefix: string) => ({
  imageKey: `${prefix}/image`,
  labelKey: `${prefix}/label`,
  maskKey: `${prefix}/mask`,
});
/** The prefix of an imported volume's arrays, from its image array's key (the inverse of `volumeArrayKeys`). */
export const volumePrefixOfImage = (imageKey: string) => {
  if (!imageKey.endsWith('/image')) throw new Error(`${imageKey} is not an imported volume's image array`);
  return imageKey.slice(0, -'/image'.length);
};
/**
 * The bounding box of a label array's foreground, written beside the array by the importer so that
 * samplers need not scan the labels to find vessels.
 */
export const foregroundKey = (labelKey: string) => `${labelKey}/capillary-foreground.json`;
/** An import's progress under its prefix: the chunk slabs fully uploaded, for resuming. */
export const importManifestKey = (prefix: string) => `${prefix}/capillary-import.json`;

/** The 3D preview of an array, max-pooled by `factor` and stored beside it (computed once, ever). */
export const arrayPreviewKey = (arrayKey: string, factor: number) => `${arrayKey}/capillary-preview-f${factor}.u8`;

export const checkpointPrefix = (experimentId: string) => `checkpoints/${experimentId}/`;
export const checkpointKey = (experimentId: string, epoch: number, attempt: number) =>
  `${checkpointPrefix(experimentId)}epoch-${pad(epoch)}-attempt-${pad(attempt, 3)}.ckpt`;
/** A PBT member's copy of another member's checkpoint: one key per (epoch, donor), so a redone copy overwrites only itself. */
export const copiedCheckpointKey = (experimentId: string, epoch: number, fromExperimentId: string) =>
  `${checkpointPrefix(experimentId)}epoch-${pad(epoch)}-copied-from-${fromExperimentId}.ckpt`;

export const predictionPrefix = (predictionId: string) => `predictions/${predictionId}/`;
export const predictionMaskKey = (predictionId: string, attempt: number, volumeName: string) =>
  `${predictionPrefix(predictionId)}attempt-${pad(attempt, 3)}/${volumeName}/mask`;
/**
 * A pseudo-label array made by a prediction: under `volumes/`, since a volume row of another dataset
 * points at it and outlives the prediction.
 */
export const pseudoLabelKey = (predictionId: string, attempt: number, volumeName: string) =>
  `volumes/pseudo-labels/${predictionId}/attempt-${pad(attempt, 3)}/${volumeName}/label`;
/** Everything one attempt of a prediction writes under the prediction's prefix. */
export const predictionAttemptPrefix = (predictionId: string, attempt: number) => `${predictionPrefix(predictionId)}attempt-${pad(attempt, 3)}/`;
/** The shards' arrays of one attempt: intermediate, removed once the merge has succeeded. */
export const predictionShardsPrefix = (predictionId: string, attempt: number) => `${predictionAttemptPrefix(predictionId, attempt)}shards/`;
/** A shard's 16-bit probabilities: the prediction's attempt and the shard job's own attempt fence it. */
export const predictionShardKey = (predictionId: string, attempt: number, shard: string, shardAttempt: number) =>
  `${predictionShardsPrefix(predictionId, attempt)}${shard}-try-${pad(shardAttempt, 3)}`;
export const predictionCsvKey = (predictionId: string, attempt: number) =>
  `${predictionPrefix(predictionId)}attempt-${pad(attempt, 3)}/submission.csv`;
