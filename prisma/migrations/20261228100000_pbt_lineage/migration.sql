-- Population-based training (issue 26): a copied checkpoint names where it came from, and every
-- exploit is kept as a lineage row (the copied checkpoint itself may be dropped by retention).
ALTER TABLE "Checkpoint" ADD COLUMN "copiedFromExperimentId" UUID,
ADD COLUMN "copiedFromEpoch" INTEGER;

CREATE TABLE "PbtExploit" (
    "id" UUID NOT NULL,
    "sweepId" UUID NOT NULL,
    "experimentId" UUID NOT NULL,
    "epoch" INTEGER NOT NULL,
    "fromExperimentId" UUID NOT NULL,
    "fromEpoch" INTEGER NOT NULL,
    "before" JSONB NOT NULL,
    "after" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PbtExploit_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "PbtExploit_experimentId_epoch_key" ON "PbtExploit"("experimentId", "epoch");
CREATE INDEX "PbtExploit_sweepId_idx" ON "PbtExploit"("sweepId");

ALTER TABLE "PbtExploit" ADD CONSTRAINT "PbtExploit_sweepId_fkey" FOREIGN KEY ("sweepId") REFERENCES "Sweep"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "PbtExploit" ADD CONSTRAINT "PbtExploit_experimentId_fkey" FOREIGN KEY ("experimentId") REFERENCES "Experiment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "PbtExploit" ADD CONSTRAINT "PbtExploit_fromExperimentId_fkey" FOREIGN KEY ("fromExperimentId") REFERENCES "Experiment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
