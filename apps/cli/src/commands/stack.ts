import type { Command } from 'commander';
import { stackProfile, stackUp, stackDown, stackStatus, stackEnv } from '@capillary/devstack';

export function register(program: Command) {
  program
    .command('stack')
    .description('start, stop or show the local Redis, PostgreSQL and S3 servers (loopback only)')
    .argument('<action>', 'up | down | status | env')
    .option('--profile <name>', 'which local stack (dev for the demo, test for the tests)', 'dev')
    .action(async (action: string, opts: { profile: string }) => {
      const p = stackProfile(opts.profile);
      const log = (l: string) => console.error(`[stack:${p.name}] ${l}`);
      if (action === 'up') {
        const env = await stackUp(p, log);
        for (const [k, v] of Object.entries(env)) console.log(`${k}=${v}`);
      } else if (action === 'down') {
        await stackDown(p, log);
      } else if (action === 'status') {
        console.log(JSON.stringify(await stackStatus(p)));
      } else if (action === 'env') {
        for (const [k, v] of Object.entries(stackEnv(p))) console.log(`${k}=${v}`);
      } else {
        throw new Error(`unknown action "${action}": use up, down, status or env`);
      }
    });
}
