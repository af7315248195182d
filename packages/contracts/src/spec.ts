import { Type, type Static, type TObject, type TSchema } from 'typebox';

/** Network families a worker can train. */
export const MODEL_NAMES = ['unet', 'attention-unet', 'unet25d'] as const;
/** Encoders for the U-Net family; ResNeXt widths are scaled so they fit a CPU. */
export const ENCODER_NAMES = ['plain', 'resnet', 'resnext50', 'resnext101'] as const;
export const AXES = ['xy', 'xz', 'yz'] as const;
export const LOSS_NAMES = ['bce-dice', 'focal', 'boundary'] as const;
export const NORMALIZATIONS = ['batch', 'none'] as const;

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
  },
  { additionalProperties: false, $id: 'PredictionOptions' },
);
export type PredictionOptions = Static<typeof PredictionOptions>;

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
    loss: Type.Enum(LOSS_NAMES, { default: 'bce-dice' }),
    warmupEpochs: Type.Integer({ minimum: 0, maximum: 1000, default: 0 }),
    earlyStopPatience: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    /**
     * Names of the dataset's volumes to validate on; every other labelled volume trains. Without it
     * the volumes' split roles decide. Makes leave-one-volume-out a sweep over this field.
     */
    validationVolumes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 100, uniqueItems: true })),
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

/** A grid: each listed field takes every value in its list; the rest is shared by all runs. */
export const SweepSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    /** Every run of the sweep is queued at this level. */
    priority: Type.Optional(Priority),
    // No defaults here: a field the grid sets must not arrive pre-filled from the base.
    base: optionalWithoutDefaults(ExperimentSpec),
    grid: Type.Object(
      {
        model: Type.Optional(Type.Array(ExperimentSpec.properties.model, { minItems: 1, maxItems: 10 })),
        encoder: Type.Optional(Type.Array(ExperimentSpec.properties.encoder, { minItems: 1, maxItems: 10 })),
        epochs: Type.Optional(Type.Array(ExperimentSpec.properties.epochs, { minItems: 1, maxItems: 50 })),
        lr: Type.Optional(Type.Array(ExperimentSpec.properties.lr, { minItems: 1, maxItems: 50 })),
        augmentationP: Type.Optional(Type.Array(ExperimentSpec.properties.augmentationP, { minItems: 1, maxItems: 50 })),
        batchSize: Type.Optional(Type.Array(ExperimentSpec.properties.batchSize, { minItems: 1, maxItems: 10 })),
        seed: Type.Optional(Type.Array(ExperimentSpec.properties.seed, { minItems: 1, maxItems: 50 })),
        slices: Type.Optional(Type.Array(ExperimentSpec.properties.slices, { minItems: 1, maxItems: 10 })),
        validationVolumes: Type.Optional(Type.Array(ExperimentSpec.properties.validationVolumes, { minItems: 1, maxItems: 100 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, $id: 'SweepSpec' },
);
export type SweepSpec = Static<typeof SweepSpec>;

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
export const MAX_SWEEP_SIZE = 500;
