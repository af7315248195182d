/**
 * @capillary/cli/demo: the demo's data as the CLI makes it (`capillary synth`, `npm run demo`), for
 * tests and benchmarks that need the same: synthetic datasets stored and registered like real data.
 */
export { seedSyntheticDataset, seedDemoData, DEMO_DATASET, type SyntheticDatasetOptions } from './seed.ts';
export { parseShape, parseSplit } from '../commands/synth.ts';
