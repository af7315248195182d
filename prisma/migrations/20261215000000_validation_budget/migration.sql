-- Validation within a budget: what each epoch validated on (whole volumes or crops), and the whole-volume
-- score of the best checkpoint of a run that validated on crops.
ALTER TABLE "EpochMetric" ADD COLUMN "validationScope" TEXT;
ALTER TABLE "EpochMetric" ADD COLUMN "validationCrops" INTEGER;
ALTER TABLE "EpochMetric" ADD COLUMN "validationMs" INTEGER;
ALTER TABLE "Experiment" ADD COLUMN "validationCrops" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "Experiment" ADD COLUMN "wholeValidationScore" DOUBLE PRECISION;
-- Epochs committed before this migration validated on whole volumes.
UPDATE "EpochMetric" SET "validationScope" = 'whole' WHERE "valLoss" IS NOT NULL OR "dice" IS NOT NULL OR "surfaceDice" IS NOT NULL;
