/**
 * @capillary/worker: the worker process (`startWorker`), and the prediction it runs, which
 * `capillary predict` also runs in its own process.
 */
export { startWorker } from './main.ts';
export { runPrediction, PredictionInputError } from './prediction.ts';
export { sha256 } from './checkpoints.ts';
