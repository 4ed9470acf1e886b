/**
 * What the browser tests share (console-browser, todo-browser): the system's Chromium (never a downloaded one;
 * KALAM_CHROMIUM names another binary) and the skip message when it is missing, a free port range for a cluster from
 * `kalam cluster up --base-port`, and a headless browser launched as a server whose process is killed by pid in
 * t.after, on failure too.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';

import { chromium } from 'playwright-core';
import type { Browser, BrowserServer } from 'playwright-core';

import { findFreeBasePort } from '../../src/cluster/folder.js';

export const CHROMIUM = process.env['KALAM_CHROMIUM'] ?? '/usr/bin/chromium';
const BROWSER_LAUNCH_MS = 60_000;
const BROWSER_CLOSE_MS = 10_000;

/** `skip` for a browser test: false, or the one message saying why it cannot run here. */
export const chromiumSkip: false | string = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (install Debian's chromium, or set KALAM_CHROMIUM to a Chromium binary)`;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A base port whose API (base..) and Raft (base+100..) ports for `nodes` nodes are free now (findFreeBasePort's: below
 * the ephemeral range, where no outbound connection takes them meanwhile), and `base + 300` too when `withExtra` (a
 * page server beside the cluster, bound only once the cluster is up and set up).
 */
export async function freeBase(nodes: number, withExtra = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await findFreeBasePort(nodes);
    if (!withExtra || (await canBind(base + 300))) return base;
  }
  throw new Error('no free port range found');
}

/** Headless Chromium, connected; its process is closed (then SIGKILLed by pid) when the test ends. */
export async function launchBrowser(t: TestContext): Promise<Browser> {
  let server: BrowserServer | undefined = undefined;
  t.after(async () => {
    const pid = server?.process().pid;
    await Promise.race([server?.close(), new Promise((r) => setTimeout(r, BROWSER_CLOSE_MS))]);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // closed already
      }
    }
  });
  // --no-sandbox: Chromium's sandbox refuses to start as root (CI runs as root).
  server = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox'],
    timeout: BROWSER_LAUNCH_MS,
  });
  return chromium.connect(server.wsEndpoint(), { timeout: BROWSER_LAUNCH_MS });
}
