// @capillary/search: what a sweep searches. Grid expansion, random draws from a search space and
// the TPE sampler, as pure functions of a sweep's request: the API expands a sweep with them when
// it is created, and the registry decides a sequential search's next trial with them.
export { expandGrid, gridCombos, gridShapeIssues, specsOf, sweepSize } from './grid.ts';
export { DEFAULT_TPE_STARTUP_TRIALS, expandSweep, nextTpeTrial, sampleTrial, spaceIssues, strategyIssues, sweepSeedOf, tpeParallelism, type SweepTrial } from './strategies.ts';
export { defaultGamma, suggestTpe, type TpeObservation, type TpeOptions } from './tpe.ts';
