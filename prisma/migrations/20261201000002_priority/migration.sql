-- Priorities and fair share: the level a run was asked for, and the BullMQ priority its job was
-- queued with, which the reconciler reuses when it re-creates the job.
ALTER TABLE "Experiment" ADD COLUMN "priority" INTEGER;
ALTER TABLE "Experiment" ADD COLUMN "queuePriority" INTEGER;
