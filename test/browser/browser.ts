// Debian's Chromium driven by playwright-core, with what every browser test checks collected on
// the way: dialogs (none may open), uncaught page errors and CSP refusals.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../harness.ts';

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

/**
 * Signs the browser in with an API key, as the dashboard's form does (POST /auth/session): the
 * session cookie lands in the browser's cookie store, and the pages opened next are signed in.
 */
export async function signIn(page: Page, key: string): Promise<void> {
  const res = await page.request.post('/auth/session', { data: { key } });
  if (!res.ok()) throw new Error(`signing in failed: ${res.status()} ${await res.text()}`);
}

/** Signs in through the dashboard's own form, on the page it is showing. */
export async function signInWithForm(page: Page, key: string): Promise<void> {
  await page.waitForSelector('[data-testid="key-form"]');
  await page.fill('[data-testid="key-form"] input[name="apiKey"]', key);
  await page.click('[data-testid="key-form"] button[type="submit"]');
  await page.waitForSelector('[data-testid="user-name"]');
}

/** Every localStorage entry of the page's origin: where nothing secret may be. */
export async function localStorageEntries(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => {
    const ls = (globalThis as unknown as { localStorage: { length: number; key(i: number): string | null; getItem(k: string): string | null } }).localStorage;
    const out: Record<string, string> = {};
    for (let i = 0; i < ls.length; i++) {
      const k = ls.key(i)!;
      out[k] = ls.getItem(k) ?? '';
    }
    return out;
  });
}
