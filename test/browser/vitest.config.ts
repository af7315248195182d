import { defineConfig } from 'vitest/config';

// Browser tests: a real Chromium against the API in-process and real workers. Run with
// `npx vitest run --config test/browser/vitest.config.ts`.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/browser/**/*.test.ts'],
    globalSetup: ['test/browser/stack-setup.ts', 'test/browser/build-dashboard.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    pool: 'forks',
    execArgv: ['--unhandled-rejections=strict'],
    fileParallelism: false,
  },
});
