// What this proves (issue M6 §3.2, adversaries.md §3 "rights that outlive their grant"), on a 3-node cluster of real
// `kalam serve` processes:
// - A token stops working once its user's password changes — at once on the node that ran the ALTER, within a bounded
//   wait on the others (they learn the change by replication) — and once its role changes; a fresh login works on
//   every node at once, even one that has not applied the change yet.
// - A password change closes the user's open WebSockets (they must authenticate again).
// - DROP USER ends a subscribed WebSocket of that user on another node: its subscription gets an error, the socket
//   closes with 4401, and rows written afterwards never reach it; its registration leaves system.live_queries.
// - A role downgrade ends the subscriptions the new role may not hold (a PRIVATE shared table: PERMISSION_DENIED) and
//   keeps the socket and the subscriptions it may still hold (its own USER table), which go on receiving changes.
// Ports are chosen at run time; every process and socket is reaped in `after`. Every wait is bounded.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { LiveClient } from '../src/index.js';
import type { LiveSubscription } from '../src/index.js';
import { basic, bearer, eventually, request, rowsOf, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
/** Replication to a follower and the socket's re-check take well under a second; this is a liveness bound only. */
const WAIT_MS = 15_000;

let nodes: KalamNodes;
const clients: LiveClient[] = [];

async function ok(url: string, auth: string, text: string): Promise<JsonReply> {
  const r = await sql(url, auth, text);
  assert.equal(r.status, 200, `${text}: ${JSON.stringify(r.body)}`);
  return r;
}

async function login(url: string, username: string, password: string): Promise<string> {
  const r = await request(url, '/v1/api/auth/login', { body: { username, password } });
  assert.equal(r.status, 200, `login ${username}: ${JSON.stringify(r.body)}`);
  return r.body['access_token'] as string;
}

async function connect(url: string, username: string, password: string): Promise<LiveClient> {
  const c = await LiveClient.connect(url, { username, password });
  clients.push(c);
  return c;
}

/** Resolves with the close, or fails after `ms`. */
async function closedWithin(c: LiveClient, ms: number): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the socket was not closed within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([c.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

before(async () => {
  nodes = await KalamNodes.start({ members: 3 });
  await ok(
    nodes.url(1),
    root,
    [
      'CREATE NAMESPACE app',
      "CREATE SHARED TABLE app.news (id BIGINT PRIMARY KEY, title TEXT) WITH (ACCESS_LEVEL = 'PUBLIC')",
      'CREATE SHARED TABLE app.ledger (id BIGINT PRIMARY KEY, amount INT)',
      'CREATE USER TABLE app.notes (id BIGINT PRIMARY KEY, body TEXT)',
      "CREATE USER 'carol' WITH PASSWORD 'carol-pass' ROLE user",
      "CREATE USER 'dave' WITH PASSWORD 'dave-pass' ROLE service",
      "CREATE USER 'erin' WITH PASSWORD 'erin-pass' ROLE user",
      "CREATE USER 'fred' WITH PASSWORD 'fred-pass' ROLE user",
    ].join('; '),
  );
});

after(async () => {
  for (const c of clients) c.terminate();
  await nodes?.close();
});

test('a token stops working once its password changes (every node); the socket closes; a new login works', async () => {
  const [n1, n2, n3] = [nodes.url(1), nodes.url(2), nodes.url(3)];
  const token = await login(n1, 'erin', 'erin-pass');
  for (const url of [n1, n2, n3]) await ok(url, bearer(token), 'SELECT * FROM app.notes');
  const socket = await connect(n2, 'erin', 'erin-pass');

  await ok(n1, root, "ALTER USER 'erin' SET PASSWORD 'erin-new'");
  const refused = await sql(n1, bearer(token), 'SELECT * FROM app.notes');
  assert.equal(refused.status, 401, `node 1, right after the ALTER: ${JSON.stringify(refused.body)}`);
  for (const url of [n2, n3]) {
    await eventually(WAIT_MS, `the old token refused on ${url}`, async () =>
      (await sql(url, bearer(token), 'SELECT * FROM app.notes')).status === 401 ? true : undefined,
    );
  }
  assert.equal((await sql(n2, basic('erin', 'erin-pass'), 'SELECT * FROM app.notes')).status, 401);
  const closed = await closedWithin(socket, WAIT_MS);
  assert.equal(closed.code, 4401, closed.reason);

  const fresh = await login(n3, 'erin', 'erin-new');
  for (const url of [n1, n2, n3]) await ok(url, bearer(fresh), 'SELECT * FROM app.notes');
});

test('a token stops working once its role changes', async () => {
  const n1 = nodes.url(1);
  const token = await login(n1, 'fred', 'fred-pass');
  await ok(n1, bearer(token), 'SELECT * FROM app.notes');
  await ok(n1, root, "ALTER USER 'fred' SET ROLE service");
  const refused = await sql(n1, bearer(token), 'SELECT * FROM app.ledger');
  assert.equal(refused.status, 401, JSON.stringify(refused.body));
  await ok(n1, bearer(await login(n1, 'fred', 'fred-pass')), 'SELECT * FROM app.ledger');
});

test('DROP USER: the subscribed WebSocket is told, closed, and gets no later row', async () => {
  const [n1, n2] = [nodes.url(1), nodes.url(2)];
  const carol = await connect(n2, 'carol', 'carol-pass');
  const sub = await carol.subscribe('news', 'SELECT * FROM app.news');
  const watcher = await (await connect(n2, 'root', ROOT_PASSWORD)).subscribe('news', 'SELECT * FROM app.news');
  await ok(n1, root, "INSERT INTO app.news (id, title) VALUES (1, 'before')");
  await sub.waitFor((s) => s.changes.length === 1, WAIT_MS);

  await ok(n1, root, "DROP USER 'carol'");
  const closed = await closedWithin(carol, WAIT_MS);
  assert.equal(closed.code, 4401, closed.reason);
  assert.equal(sub.errors[0]?.code, 'UNAUTHORIZED', JSON.stringify(sub.errors));

  await ok(n1, root, "INSERT INTO app.news (id, title) VALUES (2, 'after')");
  await watcher.waitFor((s) => s.changes.some((c) => c.row['id'] === 2), WAIT_MS);
  assert.deepEqual(
    sub.changes.map((c) => c.row['id']),
    [1],
    'no row written after the drop',
  );
  await eventually(WAIT_MS, "carol's registration leaves system.live_queries", async () => {
    const rows = rowsOf(await sql(n1, root, "SELECT live_id FROM system.live_queries WHERE user_id = 'carol'"));
    return rows.length === 0 ? true : undefined;
  });
});

test('a role downgrade ends the subscriptions the new role may not hold; the socket and the rest go on', async () => {
  const [n1, n3] = [nodes.url(1), nodes.url(3)];
  const dave = await connect(n3, 'dave', 'dave-pass');
  const ledger: LiveSubscription = await dave.subscribe('ledger', 'SELECT * FROM app.ledger');
  const notes: LiveSubscription = await dave.subscribe('notes', 'SELECT * FROM app.notes');
  await ok(n1, root, 'INSERT INTO app.ledger (id, amount) VALUES (1, 10)');
  await ledger.waitFor((s) => s.changes.length === 1, WAIT_MS);

  await ok(n1, root, "ALTER USER 'dave' SET ROLE user");
  await ledger.waitFor((s) => s.ended, WAIT_MS);
  assert.equal(ledger.errors[0]?.code, 'PERMISSION_DENIED', JSON.stringify(ledger.errors));

  await ok(n1, root, 'INSERT INTO app.ledger (id, amount) VALUES (2, 20)');
  await ok(n1, basic('dave', 'dave-pass'), "INSERT INTO app.notes (id, body) VALUES (1, 'still here')");
  await notes.waitFor((s) => s.changes.length === 1, WAIT_MS);
  assert.equal(notes.ended, false, 'a subscription the new role may hold goes on');
  assert.equal(dave.ws.readyState, dave.ws.OPEN, 'the socket stays open');
  assert.deepEqual(
    ledger.changes.map((c) => c.row['id']),
    [1],
    'no ledger row after the downgrade',
  );
  const again = dave.subscribe('ledger2', 'SELECT * FROM app.ledger');
  await assert.rejects(again, (err: Error & { code?: string }) => err.code === 'PERMISSION_DENIED');
});
