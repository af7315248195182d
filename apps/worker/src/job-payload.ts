import { UnrecoverableError, type Job } from 'bullmq';
import { parseJobPayload, ValidationError, type JobKind, type JobPayload } from '@capillary/contracts';

/**
 * The job's payload checked against the catalogue again at pickup; a payload that fails can never
 * succeed, so it fails the job without retries.
 */
export function jobPayload<K extends JobKind>(kind: K, job: Job): JobPayload<K> {
  try {
    return parseJobPayload(kind, job.data);
  } catch (e) {
    throw new UnrecoverableError(e instanceof ValidationError ? e.message : String(e));
  }
}
