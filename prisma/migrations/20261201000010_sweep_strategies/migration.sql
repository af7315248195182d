-- Sweep strategies and ASHA: two states (paused waits for a promotion, stopped is the end of a
-- trial ASHA did not promote), the sweep's strategy and ASHA settings, and each trial's rung.
ALTER TYPE "ExperimentStatus" ADD VALUE 'paused';
ALTER TYPE "ExperimentStatus" ADD VALUE 'stopped';
ALTER TABLE "Sweep" ADD COLUMN "strategy" TEXT NOT NULL DEFAULT 'grid';
ALTER TABLE "Sweep" ADD COLUMN "asha" JSONB;
ALTER TABLE "Experiment" ADD COLUMN "rung" INTEGER;
ALTER TABLE "Experiment" ADD COLUMN "pauseAtEpoch" INTEGER;
ALTER TABLE "Experiment" ADD COLUMN "trialIndex" INTEGER;
