import type { ChildProcess } from 'node:child_process';

/** SIGTERM, then SIGKILL if the process is still running after `graceMs`; resolves once it is handled. */
export async function stopProcess(c: ChildProcess, graceMs = 10_000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
