/**
 * Whether an error means a service we depend on (PostgreSQL, Redis, S3) is unreachable or
 * overloaded, rather than that the work itself is wrong. Such errors are waited out: they never
 * spend an experiment's attempts.
 */
export function isInfrastructureError(e: unknown): boolean {
  for (let err = e as ErrorLike | undefined, depth = 0; err && depth < 5; err = err.cause as ErrorLike | undefined, depth++) {
    if (typeof err !== 'object') return false;
    if (err.code && NETWORK_CODES.has(String(err.code))) return true;
    if (err.code && PRISMA_CONNECTION_CODES.has(String(err.code))) return true;
    if (err.name && NETWORK_NAMES.has(err.name)) return true;
    // S3 answered, but with a server-side fault (5xx): retrying later is the cure.
    const status = err.$metadata?.httpStatusCode;
    if (typeof status === 'number' && status >= 500) return true;
    const msg = typeof err.message === 'string' ? err.message : '';
    if (NETWORK_MESSAGES.some((re) => re.test(msg))) return true;
  }
  return false;
}

interface ErrorLike {
  code?: unknown;
  name?: string;
  message?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  // PostgreSQL: admin shutdown, crash shutdown, cannot connect now, too many connections, lock
  // wait timed out, session ended for idling in a transaction (its holder was frozen).
  '57P01', '57P02', '57P03', '53300', '55P03', '25P03',
]);
// Prisma: cannot reach the server, timed out, closed, pool timeout, and an interactive transaction
// that expired (it waited on a lock held by a frozen or dying process).
const PRISMA_CONNECTION_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);
const NETWORK_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'NetworkingError', 'MaxRetriesPerRequestError']);
const NETWORK_MESSAGES = [
  /Connection terminated/i,
  /Connection is closed/i,
  /connect ECONNREFUSED/,
  /socket hang up/i,
  /Client has encountered a connection error/i,
  /terminating connection due to administrator command/i,
  /the database system is (starting up|shutting down)/i,
  /Stream isn't writeable/i,
  /Reached the max retries per request limit/i,
  /Can't reach database server/i,
  /Timed out fetching a new connection/i,
  /canceling statement due to lock timeout/i,
  /idle-in-transaction timeout/i,
  /Transaction already closed/i,
  /expired transaction/i,
];
