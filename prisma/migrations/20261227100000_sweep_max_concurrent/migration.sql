-- A sweep's concurrency cap: trials beyond it wait as `held`, with no job, until released in order.
ALTER TYPE "ExperimentStatus" ADD VALUE 'held';
ALTER TABLE "Sweep" ADD COLUMN "maxConcurrent" INTEGER;
ALTER TABLE "Project" ADD COLUMN "sweepMaxConcurrent" INTEGER;
