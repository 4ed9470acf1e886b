/**
 * The todo example (examples/todo) in a real browser: headless Chromium driven by playwright-core (the system's
 * chromium, never a downloaded one) against a real 3-node cluster from `kalam cluster up --cors-origin`, the page
 * served by examples/todo/serve.mjs from another origin, the schema and users made by examples/todo/setup.mjs.
 * Two browser contexts sign in as alice and bob; each adds todos, alice toggles one, bob deletes one; then the node
 * alice's live query listens on is SIGKILLed (`kalam node kill`) and both add more at once. Each page must end up
 * showing exactly its user's todos — live, none lost, none twice — equal to what root reads from the table
 * (EXECUTE AS USER), and alice's live query must have moved to another node. A first test type-checks the app.
 * Screenshots at each step go to test-artifacts/todo/ (printed). Skipped with one message when Chromium is missing
 * (KALAM_CHROMIUM names another binary). Every wait is bounded; the cluster, the page server and the browser are
 * reaped by pid in t.after, on failure too.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { createClient } from '@kalam/client';
import type { Browser, Page } from 'playwright-core';

import type { ClusterCredentials, ClusterStatus } from '../src/cluster/types.js';
import { chromiumSkip, freeBase, launchBrowser } from './support/browser.js';
import { pidsOf, runKalam, tempCluster, waitUntil } from './support/cli-process.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'todo');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'todo');
const COMMAND_TIMEOUT_MS = 240_000;
/** Each step the pages must show within this long (a write retried through an election, a live query resumed). */
const STEP_BOUND_MS = 45_000;
const SERVE_START_MS = 60_000;
const PASSWORDS = { alice: 'alice-todo-pw', bob: 'bob-todo-pw' } as const;
type User = keyof typeof PASSWORDS;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

interface ShownTodo {
  readonly id: string;
  readonly title: string;
  readonly done: boolean;
}

async function shownTodos(page: Page): Promise<ShownTodo[]> {
  const items = page.locator('#todos li');
  const shown: ShownTodo[] = [];
  for (let i = 0; i < (await items.count()); i++) {
    const li = items.nth(i);
    shown.push({
      id: (await li.getAttribute('data-id')) ?? '',
      title: (await li.locator('.title').textContent()) ?? '',
      done: (await li.getAttribute('data-done')) === 'true',
    });
  }
  return shown;
}

/** Waits until the page shows exactly `titles` (in any order, each once), within STEP_BOUND_MS. */
async function waitForTitles(page: Page, titles: readonly string[], what: string): Promise<void> {
  const want = [...titles].sort().join('|');
  let last = '';
  await waitUntil(
    `${what}: the page shows ${titles.join(', ')}`,
    STEP_BOUND_MS,
    async () => {
      last = (await shownTodos(page))
        .map((t) => t.title)
        .sort()
        .join('|');
      return last === want;
    },
    250,
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (last shown: ${last})`);
  });
}

async function add(page: Page, title: string): Promise<void> {
  await page.fill('#add input[name=title]', title);
  await page.click('#add button[type=submit]');
}

async function signIn(browser: Browser, url: string, user: User, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_BOUND_MS);
  page.on('pageerror', (e) => errors.push(`${user}: ${e.message}`));
  const res = await page.goto(url);
  assert.equal(res?.status(), 200);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', PASSWORDS[user]);
  await page.click('#sign-in button[type=submit]');
  // Signed in once the live query delivered its initial rows; an error on the page fails at once.
  await waitUntil(
    `${user} signed in, the live query started`,
    STEP_BOUND_MS,
    async () => {
      const error = (await page.textContent('#error')) ?? '';
      if (error !== '') throw new Error(`${user}: the page says ${error}`);
      return (await page.locator('#live-state[data-state="live"]').count()) === 1;
    },
    250,
  );
  return page;
}

/** `node examples/todo/serve.mjs …` as a child reaped by pid after the test; resolves once it listens. */
async function startServer(t: TestContext, nodes: readonly string[], port: number): Promise<void> {
  const child = spawn(
    process.execPath,
    [join(EXAMPLE, 'serve.mjs'), '--nodes', nodes.join(','), '--port', String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.after(() => {
    if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  await waitUntil(
    'the todo page server listens',
    SERVE_START_MS,
    () => {
      if (child.exitCode !== null) throw new Error(`serve.mjs exited ${child.exitCode}: ${output}`);
      return Promise.resolve(output.includes('todo: http://'));
    },
    100,
  );
}

test('the todo app type-checks for the browser (tsc -p examples/todo)', () => {
  const require = createRequire(import.meta.url);
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', EXAMPLE], {
    encoding: 'utf8',
    timeout: COMMAND_TIMEOUT_MS,
  });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});

const skip = chromiumSkip;

test(
  'todo app: two users live in two browser contexts, a node SIGKILLed mid-use, nothing lost or doubled',
  {
    skip,
  },
  async (t) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    t.diagnostic(`screenshots: ${ARTIFACTS}`);
    const { dir, track } = tempCluster(t, 'todo');
    const base = await freeBase(3, true);
    const ports = { base, page: base + 300 };
    const origin = `http://127.0.0.1:${ports.page}`;
    const up = await runKalam(
      [
        'cluster',
        'up',
        '--nodes',
        '3',
        '--dir',
        dir,
        '--base-port',
        String(ports.base),
        '--cors-origin',
        origin,
        '--json',
      ],
      COMMAND_TIMEOUT_MS,
    );
    assert.equal(up.code, 0, up.stderr);
    const status = JSON.parse(up.stdout) as ClusterStatus;
    track(pidsOf(status));
    const nodes = [0, 1, 2].map((i) => `http://127.0.0.1:${ports.base + i}`);
    const creds = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as ClusterCredentials;

    const setup = spawnSync(
      process.execPath,
      [join(EXAMPLE, 'setup.mjs'), '--nodes', nodes.join(','), '--credentials', join(dir, 'credentials.json')],
      { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS },
    );
    assert.equal(setup.status, 0, setup.stdout + setup.stderr);
    await startServer(t, nodes, ports.page);

    const browser = await launchBrowser(t);
    const errors: string[] = [];
    const alice = await signIn(browser, `${origin}/`, 'alice', errors);
    const bob = await signIn(browser, `${origin}/`, 'bob', errors);
    await shot(alice, '01-alice-signed-in.png');

    // Before the kill: three each; alice toggles one, bob deletes one. Each page sees its own rows only.
    for (const n of [1, 2, 3]) {
      await add(alice, `alice ${n}`);
      await add(bob, `bob ${n}`);
    }
    await waitForTitles(alice, ['alice 1', 'alice 2', 'alice 3'], 'alice before the kill');
    await waitForTitles(bob, ['bob 1', 'bob 2', 'bob 3'], 'bob before the kill');
    await alice.locator('#todos li', { hasText: 'alice 2' }).locator('input[type=checkbox]').check();
    await alice.waitForSelector('#todos li[data-done="true"]');
    await bob.locator('#todos li', { hasText: 'bob 1' }).locator('button[data-action=delete]').click();
    await waitForTitles(bob, ['bob 2', 'bob 3'], 'bob after a delete');
    await shot(alice, '02-alice-before-kill.png');
    await shot(bob, '03-bob-before-kill.png');

    // SIGKILL the node alice's live query listens on, and keep writing on both pages at once.
    const liveHost = (await alice.textContent('#live-node')) ?? '';
    const victim = nodes.findIndex((n) => new URL(n).host === liveHost) + 1;
    assert.ok(victim >= 1, `alice's live node ${liveHost} is not one of ${nodes.join(', ')}`);
    const kill = await runKalam(['node', 'kill', String(victim), '--dir', dir], COMMAND_TIMEOUT_MS);
    assert.equal(kill.code, 0, kill.stderr);
    t.diagnostic(`node ${victim} (${liveHost}) SIGKILLed under alice's live query`);
    for (const n of [4, 5, 6]) {
      await add(alice, `alice ${n}`);
      await add(bob, `bob ${n}`);
    }
    const aliceTitles = ['alice 1', 'alice 2', 'alice 3', 'alice 4', 'alice 5', 'alice 6'];
    const bobTitles = ['bob 2', 'bob 3', 'bob 4', 'bob 5', 'bob 6'];
    await waitForTitles(alice, aliceTitles, 'alice after the kill');
    await waitForTitles(bob, bobTitles, 'bob after the kill');
    await waitUntil(
      "alice's live query on another node",
      STEP_BOUND_MS,
      async () => {
        const host = (await alice.textContent('#live-node')) ?? '';
        return host !== liveHost && host !== '–';
      },
      250,
    );
    await shot(alice, '04-alice-after-kill.png');
    await shot(bob, '05-bob-after-kill.png');
    assert.deepEqual(errors, []);
    assert.equal(await alice.textContent('#error'), '');
    assert.equal(await bob.textContent('#error'), '');

    // What the pages show is what the table holds: root reads each user's rows (EXECUTE AS USER), on a live node.
    const survivors = nodes.filter((_, i) => i + 1 !== victim);
    const root = createClient({ nodes: survivors, user: creds.user, password: creds.password });
    try {
      const users = await root.query<{ user_id: string; username: string }>(
        'SELECT user_id, username FROM system.users',
      );
      for (const [user, page, titles] of [
        ['alice', alice, aliceTitles],
        ['bob', bob, bobTitles],
      ] as const) {
        const id = users.rows.find((r) => r.username === user)?.user_id;
        assert.ok(id !== undefined, `no user ${user}`);
        const stored = await root.query<{ id: string; title: string; done: unknown }>(
          `EXECUTE AS USER '${id}' (SELECT id, title, done FROM todo.items)`,
        );
        const table = stored.rows
          .map((r) => ({ id: r.id, title: r.title, done: r.done === true }))
          .sort((a, b) => a.id.localeCompare(b.id));
        const shown = (await shownTodos(page)).sort((a, b) => a.id.localeCompare(b.id));
        assert.deepEqual(shown, table, `${user}: the page and the table differ`);
        // Nothing lost, nothing twice: every title added (and not deleted) is there exactly once.
        assert.deepEqual(table.map((r) => r.title).sort(), [...titles].sort(), `${user}'s rows`);
        assert.equal(table.filter((r) => r.done).length, user === 'alice' ? 1 : 0, `${user}'s done rows`);
      }
    } finally {
      await root.close();
    }
  },
);
