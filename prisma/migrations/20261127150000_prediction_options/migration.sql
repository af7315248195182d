-- AlterTable
ALTER TABLE "Prediction" ADD COLUMN "options" JSONB NOT NULL DEFAULT '{}';
