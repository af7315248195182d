-- Fencing tokens: every epoch and checkpoint names the attempt that wrote it, and predictions count
-- their attempts like experiments do.
ALTER TABLE "EpochMetric" ADD COLUMN "attemptNumber" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "Checkpoint" ADD COLUMN "attemptNumber" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "Prediction" ADD COLUMN "attempts" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "Prediction" ADD COLUMN "workerId" TEXT;
ALTER TABLE "Prediction" ADD COLUMN "startedAt" TIMESTAMP(3);
CREATE INDEX "Prediction_status_idx" ON "Prediction"("status");
-- How many times an epoch was committed: 1 unless work was redone (what the fault drills count).
ALTER TABLE "EpochMetric" ADD COLUMN "commits" INTEGER NOT NULL DEFAULT 1;
