-- Public- and private-test scores written at the end of training, and closing a lone experiment.
ALTER TABLE "Experiment" ADD COLUMN "validationScore" DOUBLE PRECISION;
ALTER TABLE "Experiment" ADD COLUMN "scoreSource" TEXT;
ALTER TABLE "Experiment" ADD COLUMN "validatedOnTraining" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "Experiment" ADD COLUMN "trainedEpochs" INTEGER;
ALTER TABLE "Experiment" ADD COLUMN "testScoredEpoch" INTEGER;
ALTER TABLE "Experiment" ADD COLUMN "closedAt" TIMESTAMP(3);
-- Rows scored before this migration were scored on validation volumes.
UPDATE "Experiment" SET "validationScore" = "score", "scoreSource" = 'validation' WHERE "score" IS NOT NULL;
