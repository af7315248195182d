-- Sharded predictions: the shards the current attempt planned and those it committed (shard -> S3 key).
ALTER TABLE "Prediction" ADD COLUMN IF NOT EXISTS "shards" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "Prediction" ADD COLUMN IF NOT EXISTS "shardsPlanned" INTEGER;
