import type { SqlDriverAdapter, SqlDriverAdapterFactory, SqlQuery, Transaction } from '@prisma/driver-adapter-utils';
import { isInfrastructureError } from '@capillary/contracts';

/**
 * Prisma's `pg` adapter, made safe for transactions whose session the server has ended.
 *
 * A process frozen inside a transaction past `idle_in_transaction_session_timeout` wakes to a dead
 * connection. Prisma (6.19) then rolls the transaction back from its own expiry timer: the ROLLBACK
 * fails, the timer's promise rejects with no one to hear it (a crash under
 * `--unhandled-rejections=strict`), and the connection is never released, so the pool shrinks by one
 * for good. A failed COMMIT leaks its connection the same way. Here a ROLLBACK that meets a lost
 * connection succeeds (the server rolled back when it ended the session), and a failed COMMIT gives
 * its connection back before it throws; `pg`'s pool drops a connection that can no longer query.
 */
export class EndedSessionSafeAdapter implements SqlDriverAdapterFactory {
  readonly provider: SqlDriverAdapterFactory['provider'];
  readonly adapterName: string;

  constructor(private readonly inner: SqlDriverAdapterFactory) {
    this.provider = inner.provider;
    this.adapterName = inner.adapterName;
  }

  async connect(): Promise<SqlDriverAdapter> {
    const adapter = await this.inner.connect();
    const startTransaction = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => guard(await startTransaction(isolationLevel));
    return adapter;
  }
}

function guard(tx: Transaction): Transaction {
  const executeRaw = tx.executeRaw.bind(tx);
  tx.executeRaw = async (query: SqlQuery) => {
    try {
      return await executeRaw(query);
    } catch (e) {
      const sql = query.sql.trim().toUpperCase();
      if (sql === 'ROLLBACK' && isInfrastructureError(e)) return 0;
      // Prisma releases the connection only after a COMMIT that succeeded.
      if (sql === 'COMMIT') await tx.rollback();
      throw e;
    }
  };
  return tx;
}
