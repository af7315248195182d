-- Experiments remember the API key that created them: idempotency keys are scoped to that key and
-- carry the hash of the spec they were first used with.
ALTER TABLE "Experiment" ADD COLUMN "apiKeyId" UUID;
ALTER TABLE "Experiment" ADD COLUMN "requestHash" TEXT;

DROP INDEX "Experiment_idempotencyKey_key";
CREATE UNIQUE INDEX "Experiment_apiKeyId_idempotencyKey_key" ON "Experiment"("apiKeyId", "idempotencyKey");
CREATE INDEX "Experiment_apiKeyId_status_idx" ON "Experiment"("apiKeyId", "status");

ALTER TABLE "Experiment" ADD CONSTRAINT "Experiment_apiKeyId_fkey" FOREIGN KEY ("apiKeyId") REFERENCES "ApiKey"("id") ON DELETE SET NULL ON UPDATE CASCADE;
