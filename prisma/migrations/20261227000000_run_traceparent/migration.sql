-- Where a run came from in the traces: the span that created it (issue 27, traces).
ALTER TABLE "Experiment" ADD COLUMN "traceparent" TEXT;
ALTER TABLE "Prediction" ADD COLUMN "traceparent" TEXT;
