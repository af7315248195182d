import { Type, type Static, type TObject, type TSchema } from 'typebox';

/** Network families a worker can train. */
export const MODEL_NAMES = ['unet', 'attention-unet', 'unet25d'] as const;
/** Encoders for the U-Net family; ResNeXt widths are scaled so they fit a CPU. */
export const ENCODER_NAMES = ['plain', 'resnet', 'resnext50', 'resnext101'] as const;
export const AXES = ['xy', 'xz', 'yz'] as const;
export const LOSS_NAMES = ['bce-dice', 'focal', 'boundary', 'surface-dice'] as const;
const lossWeight = (description: string) => Type.Optional(Type.Number({ minimum: 0, maximum: 100, description }));
/**
 * A loss as weights of its terms, e.g. `{ focal: 1, dice: 1, boundary: 0.01, surfaceDice: 1 }` (the
 * 2024 winner's); a missing term weighs 0, and at least one must be positive.
 */
export const LossWeights = Type.Object(
  {
    bce: lossWeight('mean binary cross-entropy'),
    focal: lossWeight('focal loss (gamma 2, alpha 0.25)'),
    boundary: lossWeight('BCE weighted 5x within one pixel of a label edge'),
    dice: lossWeight('1 - batch soft Dice'),
    surfaceDice: lossWeight('1 - soft surface Dice on the metric\'s neighbour-code area table'),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type LossWeights = Static<typeof LossWeights>;
export const NORMALIZATIONS = ['batch', 'none'] as const;

// Declared before the schemas that bound `trials` by it.
const MAX_SWEEP_SIZE_VALUE = 500;

export const DatasetName = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Name of a registered dataset',
});

/** How a prediction runs; defaults come from the experiment's spec where it has the field. */
export const PredictionOptions = Type.Object(
  {
    axes: Type.Optional(Type.Array(Type.Enum(AXES), { minItems: 1, maxItems: 3, uniqueItems: true, description: 'Planes to predict along; several are averaged' })),
    tta: Type.Boolean({ default: false, description: 'Average over horizontal and vertical flips' }),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    minComponentVoxels: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0, description: 'Remove 3D components smaller than this' }),
    overlap: Type.Number({ minimum: 0, maximum: 0.9, default: 0.25, description: 'Share of a tile overlapping its neighbour' }),
    /**
     * Percentile threshold: instead of `threshold`, the threshold that makes this share of each
     * volume's voxels positive (the expected vessel fraction).
     */
    positiveFraction: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Threshold each volume so this share of its voxels is positive (instead of threshold)' })),
    /**
     * Resample each volume by this factor before prediction (2 doubles the voxels along every axis)
     * and the mask back to the volume's grid after it: for volumes whose voxel size differs from the
     * training volumes' (a 63 um volume predicted by a 50 um model: 1.26).
     */
    predictScale: Type.Optional(Type.Number({ minimum: 0.25, maximum: 4, description: 'Resample the volume by this factor before prediction and the mask back after it' })),
    /**
     * Pseudo-labels: each volume with sparse labels (labelDensity < 1) is thresholded so that its
     * positive fraction is its labelled vessel fraction divided by its labelDensity (the coverage),
     * united with its labels, and stored as a new dense label array; the dataset is registered again
     * under this name with those arrays (other volumes as they are), for the next training round.
     */
    pseudoLabelDataset: Type.Optional(DatasetName),
  },
  { additionalProperties: false, $id: 'PredictionOptions' },
);
export type PredictionOptions = Static<typeof PredictionOptions>;

/**
 * What validating an epoch may cost. Whole validation volumes are predicted when they total at most
 * `maxVoxels`; larger ones are validated on crops chosen once per run (seeded, weighted toward
 * vessels) that total at most `maxVoxels`, the same crops every epoch, and the best checkpoint is
 * scored on the whole volumes at the end. Without `maxVoxels` the default budget keeps validation
 * under a fifth of an epoch's time (contracts validation-budget.ts).
 */
export const ValidationBudget = Type.Object(
  {
    maxVoxels: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1e12, description: 'Most voxels validated per epoch (crops of larger volumes, halo planes included); default: derived from the epoch\'s training voxels so validation stays under a fifth of the epoch' })),
    every: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Validate every N epochs (the last epoch, and an ASHA rung\'s, always); default 1' })),
  },
  { additionalProperties: false },
);
export type ValidationBudget = Static<typeof ValidationBudget>;

/**
 * Everything a worker needs to reproduce a training run. Stored whole as JSON on the experiment,
 * with the fields people sort by copied into typed columns.
 */
export const ExperimentSpec = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    notes: Type.Optional(Type.String({ maxLength: 4000 })),
    dataset: DatasetName,
    model: Type.Enum(MODEL_NAMES, { description: 'Network family' }),
    encoder: Type.Enum(ENCODER_NAMES, { default: 'plain' }),
    /** Neighbouring slices stacked as channels; 1 is plain 2D. */
    slices: Type.Integer({ minimum: 1, maximum: 15, default: 1, description: 'k neighbouring slices as channels (odd)' }),
    axes: Type.Array(Type.Enum(AXES), { minItems: 1, maxItems: 3, uniqueItems: true, default: ['xy'] }),
    epochs: Type.Integer({ minimum: 1, maximum: 1000 }),
    lr: Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Peak learning rate' }),
    augmentationP: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    batchSize: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
    seed: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: 0 }),
    tileSize: Type.Integer({ minimum: 16, maximum: 1024, multipleOf: 16, default: 64 }),
    stepsPerEpoch: Type.Integer({ minimum: 1, maximum: 100000, default: 20 }),
    baseFilters: Type.Integer({ minimum: 2, maximum: 128, default: 8 }),
    depth: Type.Integer({ minimum: 2, maximum: 6, default: 3 }),
    normalization: Type.Enum(NORMALIZATIONS, { default: 'batch' }),
    dropout: Type.Number({ minimum: 0, maximum: 0.9, default: 0 }),
    /** A named loss, or weights of the terms. */
    loss: Type.Union([Type.Enum(LOSS_NAMES), LossWeights], { default: 'bce-dice' }),
    warmupEpochs: Type.Integer({ minimum: 0, maximum: 1000, default: 0 }),
    earlyStopPatience: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    /**
     * k out: predict this many neighbouring slices (odd, at most `slices`) centred on the input's
     * centre; inference averages every slice's predictions from the windows that cover it. Default 1.
     */
    outputSlices: Type.Optional(Type.Integer({ minimum: 1, maximum: 15, description: 'output slices per window (odd, <= slices); default 1' })),
    /** Probability that a tile is cut from a randomly rotated plane instead of an axis plane. Default 0. */
    rotation3dP: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'probability of a random 3D rotation of the sampled plane; default 0' })),
    /** Largest angle of that rotation, about a random axis. Default 30. */
    rotation3dMaxDegrees: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 180, description: 'largest 3D rotation angle in degrees; default 30' })),
    /**
     * Range of the scale augmentation (tile zoom, log-uniform), e.g. centred on the ratio of a test
     * volume's voxel size to the training volumes'. Default [0.75, 1.33].
     */
    scaleRange: Type.Optional(Type.Tuple([Type.Number({ minimum: 0.25, maximum: 4 }), Type.Number({ minimum: 0.25, maximum: 4 })], { description: 'scale augmentation range [min, max]; default [0.75, 1.33]' })),
    /**
     * Names of the dataset's volumes to validate on; every other labelled volume trains. Without it
     * the volumes' split roles decide. Makes leave-one-volume-out a sweep over this field.
     */
    validationVolumes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 100, uniqueItems: true })),
    /** Per-epoch validation budget: crops of large validation volumes, and how often to validate. */
    validation: Type.Optional(ValidationBudget),
    /** How the best checkpoint predicts the dataset's public- and private-test volumes at the end of the run. */
    predict: Type.Optional(PredictionOptions),
  },
  { additionalProperties: false, $id: 'ExperimentSpec' },
);
export type ExperimentSpec = Static<typeof ExperimentSpec>;

/** Scheduling levels: 1 runs first, 10 last. Not part of the spec: it never changes what trains. */
export const PRIORITY_LEVELS = 10;
export const DEFAULT_PRIORITY = 5;
export const Priority = Type.Integer({
  minimum: 1,
  maximum: PRIORITY_LEVELS,
  description: `Scheduling level: 1 runs first, ${PRIORITY_LEVELS} last (default ${DEFAULT_PRIORITY}); within a level, runs of different API keys take turns`,
});

/** The body of POST /experiments: the spec, and how urgently it should run. */
export const ExperimentRequest = Type.Object(
  { ...ExperimentSpec.properties, priority: Type.Optional(Priority) },
  { additionalProperties: false, $id: 'ExperimentRequest' },
);
export type ExperimentRequest = Static<typeof ExperimentRequest>;

/**
 * The spec fields a grid may list: the searchable ones (below), the training budget (tile,
 * steps per epoch) and the validation volumes, which make leave-one-volume-out a grid.
 */
export const GRID_FIELDS = [
  'model', 'encoder', 'epochs', 'lr', 'augmentationP', 'batchSize', 'seed', 'slices', 'baseFilters', 'depth',
  'normalization', 'dropout', 'loss', 'warmupEpochs', 'threshold', 'tileSize', 'stepsPerEpoch', 'outputSlices',
  'rotation3dP', 'scaleRange', 'validationVolumes',
] as const;
type GridField = (typeof GRID_FIELDS)[number];
const GRID_LIST_LENGTH: Partial<Record<GridField, number>> = { model: 10, encoder: 10, batchSize: 10, slices: 10, normalization: 10, validationVolumes: 100 };

/** A grid: each listed field takes every value in its list; the rest is shared by all runs. */
export const SweepGrid = Type.Object(
  Object.fromEntries(GRID_FIELDS.map((f) => {
    const item = ExperimentSpec.properties[f] as TSchema;
    // A list item is a value of the field itself, without the spec's default.
    const { default: _omitted, ...value } = item as TSchema & { default?: unknown };
    return [f, Type.Optional(Type.Array(value as TSchema, { minItems: 1, maxItems: GRID_LIST_LENGTH[f] ?? 50 }))];
  })) as { [K in GridField]: ReturnType<typeof Type.Optional<ReturnType<typeof Type.Array<(typeof ExperimentSpec.properties)[K]>>>> },
  { additionalProperties: false },
);
export type SweepGrid = Static<typeof SweepGrid>;

export const SWEEP_STRATEGIES = ['grid', 'random', 'asha', 'tpe', 'pbt'] as const;
export type SweepStrategy = (typeof SWEEP_STRATEGIES)[number];

const Bounds = <T extends TSchema>(item: T) => Type.Array(item, { minItems: 2, maxItems: 2, description: '[low, high], both included' });

/**
 * One field's distribution in a random or ASHA search space: exactly one of `uniform`,
 * `loguniform` (log-spaced, both bounds > 0), `int` (integers, both ends included) or `choice`.
 */
export const Distribution = Type.Object(
  {
    uniform: Type.Optional(Bounds(Type.Number())),
    loguniform: Type.Optional(Bounds(Type.Number({ exclusiveMinimum: 0 }))),
    int: Type.Optional(Bounds(Type.Integer())),
    choice: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { minItems: 1, maxItems: 50 })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1 },
);
export type Distribution = Static<typeof Distribution>;

/** The spec fields a search may sample, each with its distribution. */
export const SEARCH_FIELDS = [
  'model', 'encoder', 'epochs', 'lr', 'augmentationP', 'batchSize', 'seed', 'slices', 'baseFilters', 'depth',
  'normalization', 'dropout', 'loss', 'warmupEpochs', 'threshold',
] as const;
export const SearchSpace = Type.Object(
  Object.fromEntries(SEARCH_FIELDS.map((f) => [f, Type.Optional(Distribution)])) as Record<(typeof SEARCH_FIELDS)[number], ReturnType<typeof Type.Optional<typeof Distribution>>>,
  { additionalProperties: false, minProperties: 1 },
);
export type SearchSpace = Static<typeof SearchSpace>;

/** Successive halving: rungs at minEpochs * reductionFactor^k epochs, up to maxEpochs. */
export const AshaSettings = Type.Object(
  {
    minEpochs: Type.Integer({ minimum: 1, maximum: 1000, description: 'Epochs of the first rung' }),
    reductionFactor: Type.Integer({ minimum: 2, maximum: 10, description: 'eta: the top 1/eta of a rung go on, and each rung is eta times longer' }),
    maxEpochs: Type.Integer({ minimum: 1, maximum: 1000, description: 'Epochs of a trial that is never stopped; its cosine schedule at every rung' }),
  },
  { additionalProperties: false },
);
export type AshaSettings = Static<typeof AshaSettings>;

/** The first trials of a TPE search are random draws; later ones are decided from the finished ones. */
export const TpeSettings = Type.Object(
  {
    startupTrials: Type.Integer({ minimum: 1, maximum: MAX_SWEEP_SIZE_VALUE, description: 'Random trials before TPE decides (Optuna\'s default: 10); also how many trials train at once' }),
  },
  { additionalProperties: false },
);
export type TpeSettings = Static<typeof TpeSettings>;

/** A sweep's concurrency cap: at most this many of its trials queued or running at once; the rest wait, held. */
export const MaxConcurrent = Type.Integer({ minimum: 1, maximum: MAX_SWEEP_SIZE_VALUE, description: "At most this many of the sweep's trials queued or running at once; the others wait (held) and are released in trial order as trials end. Unset: the project's default, if any" });

/** The perturbation factors when a pbt sweep names none (Jaderberg et al. 2017). */
export const DEFAULT_PBT_PERTURB_FACTORS = [0.8, 1.2];
/** The share of the population that exploits (and is exploited) when a pbt sweep names none. */
export const DEFAULT_PBT_QUANTILE = 0.25;

/**
 * Population-based training: `population` members sampled from the space train together; every
 * `perturbationInterval` epochs the bottom `quantile` copy a top-`quantile` member's newest
 * checkpoint and hyperparameters and go on with `lr` and `augmentationP` each multiplied by one of
 * `perturbFactors` (kept inside the space's bounds).
 */
export const PbtSettings = Type.Object(
  {
    population: Type.Integer({ minimum: 2, maximum: MAX_SWEEP_SIZE_VALUE, description: 'Members trained together (at least 2: someone to copy from)' }),
    perturbationInterval: Type.Integer({ minimum: 1, maximum: 1000, description: 'Epochs between exploit/explore decisions' }),
    quantile: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 0.5, description: 'Bottom share that copies the top share (0 < q <= 0.5); default 0.25' })),
    perturbFactors: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), { minItems: 1, maxItems: 10, description: 'An exploiting member\'s lr and augmentationP are each multiplied by one of these; default [0.8, 1.2]' })),
  },
  { additionalProperties: false },
);
export type PbtSettings = Static<typeof PbtSettings>;

/**
 * The body of POST /sweeps. `grid` (the default strategy): every combination of the grid's lists.
 * `random`: `trials` specs sampled from `space`, seeded by `seed`. `asha`: successive halving over
 * `trials` sampled from `space`, or over `grid`. `tpe`: `trials` in all, the first
 * `tpe.startupTrials` sampled at random, each later one decided by a tree-structured Parzen
 * estimator from the trials that finished. `pbt`: `pbt.population` members sampled from `space`,
 * trained together with exploit/explore every `pbt.perturbationInterval` epochs. Which fields each strategy takes is checked by the API,
 * naming the field.
 */
export const SweepSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    /** Every run of the sweep is queued at this level. */
    priority: Type.Optional(Priority),
    strategy: Type.Optional(Type.Enum(SWEEP_STRATEGIES, { description: 'grid (default), random, asha, tpe or pbt' })),
    /** Seeds the sampling of random, ASHA and TPE trials: the same seed draws the same trials. */
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
    // No defaults here: a field the grid sets must not arrive pre-filled from the base.
    base: optionalWithoutDefaults(ExperimentSpec),
    grid: Type.Optional(SweepGrid),
    trials: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SWEEP_SIZE_VALUE, description: 'random, asha and tpe: how many trials to sample from space' })),
    space: Type.Optional(SearchSpace),
    asha: Type.Optional(AshaSettings),
    tpe: Type.Optional(TpeSettings),
    maxConcurrent: Type.Optional(MaxConcurrent),
    pbt: Type.Optional(PbtSettings),
  },
  { additionalProperties: false, $id: 'SweepSpec' },
);
export type SweepSpec = Static<typeof SweepSpec>;

/** The body of POST /sweeps/:id/extend: more trials sampled from the sweep's space. */
export const SweepExtension = Type.Object(
  { trials: Type.Integer({ minimum: 1, maximum: MAX_SWEEP_SIZE_VALUE, description: 'Trials to add' }) },
  { additionalProperties: false, $id: 'SweepExtension' },
);
export type SweepExtension = Static<typeof SweepExtension>;

/** The same properties, all optional and without `default`. */
function optionalWithoutDefaults<T extends TObject>(schema: T) {
  const props: Record<string, TSchema> = {};
  for (const [k, v] of Object.entries(schema.properties)) {
    const { default: omitted, ...rest } = v as TSchema & { default?: unknown };
    // A copy is a plain object that defaulting does not look into: only fields with a default are copied,
    // so the defaults inside a nested object (`predict`) still fill.
    props[k] = Type.Optional(omitted === undefined ? v : (rest as TSchema));
  }
  return Type.Object(props, { additionalProperties: false }) as unknown as ReturnType<typeof Type.Partial<T>>;
}

/** Most runs one sweep may create, so a typo in a grid cannot flood the queue. */
export const MAX_SWEEP_SIZE = MAX_SWEEP_SIZE_VALUE;
