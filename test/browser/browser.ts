// Debian's Chromium driven by playwright-core, with what every browser test checks collected on
// the way: dialogs (none may open), uncaught page errors and CSP refusals.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../harness.ts';
// Callbacks of page.evaluate/waitForFunction run in the browser; this Node project has no DOM types.
declare const localStorage: any;

export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface Browser {
  page: Page;
  context: BrowserContext;
  /** Messages of dialogs that opened (alert, confirm, prompt): an XSS would land here. */
  dialogs: string[];
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** Console errors, CSP refusals among them. */
  consoleErrors: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** `bypassCSP` only for benchmarks, whose probes are strings evaluated in the page. */
export async function openBrowser(baseURL: string, opts: { bypassCSP?: boolean } = {}): Promise<Browser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'capillary-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    baseURL,
    bypassCSP: opts.bypassCSP ?? false,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    page,
    context,
    dialogs,
    pageErrors,
    consoleErrors,
    async screenshot(name) {
      const file = path.join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Console errors that are not about the page's own code: failed fetches the test caused on purpose. */
export function unexpectedErrors(b: Browser, allow: RegExp[] = []): string[] {
  return [...b.pageErrors, ...b.consoleErrors].filter((m) => !allow.some((r) => r.test(m)));
}

/** Stores the API key the way the dashboard does, so pages can act without asking. */
export async function setApiKey(page: Page, key: string): Promise<void> {
  await page.evaluate((k) => localStorage.setItem('capillary.apiKey', k), key);
}
