// @capillary/search: what a sweep searches. Grid expansion, random draws from a search space, the
// TPE sampler and PBT's exploit/explore step, as pure functions of a sweep's request: the API
// expands a sweep with them when it is created, and the registry decides a sequential search's
// next trial (and a population's exploits) with them.
export { expandGrid, gridCombos, gridShapeIssues, specsOf, sweepSize } from './grid.ts';
export { DEFAULT_TPE_STARTUP_TRIALS, expandSweep, nextTpeTrial, sampleTrial, spaceIssues, strategyIssues, sweepSeedOf, tpeParallelism, type SweepTrial } from './strategies.ts';
export { defaultGamma, suggestTpe, type TpeObservation, type TpeOptions } from './tpe.ts';
export { decidePbt, pbtCutoff, pbtIssues, PBT_PERTURBED_FIELDS, type PbtChange, type PbtExploit, type PbtMember } from './pbt.ts';
