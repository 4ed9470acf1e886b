// What this proves: WebSocket /v1/ws on a real `kalam serve` node (standalone) speaks KalamDB's live-query protocol —
// basic and JWT authentication (and auth_error then close); subscribe with initial_data_batch paging (batch_size,
// next_batch, last_rows); insert / update / delete `change` messages with old values and `_seq`; a WHERE filter
// (an update that leaves the filter is a delete for the subscriber); unsubscribe; the limits (per connection, per
// user across connections, message size, unauthenticated use) as clear `error` messages; SUBSCRIBE TO over the SQL
// API; system.live_queries with node_id; KILL LIVE QUERY ending a subscription; from_seq_id resuming exactly after
// the cursor. How: one node process, clients from ws/client.ts, every wait bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import WebSocket from 'ws';

import { LiveClient, LiveClientError, WS_LIMITS } from '../src/index.js';
import type { LiveSubscription } from '../src/index.js';
import { basic, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const alice = basic('alice', 'alice-pass');
const ALICE = { username: 'alice', password: 'alice-pass' };
const WAIT_MS = 15_000;

async function ok(url: string, auth: string, text: string): Promise<unknown[][]> {
  return rowsOf(await sql(url, auth, text));
}

function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (err: unknown) => (err instanceof LiveClientError ? err.code : String(err)),
  );
}

test('live queries over /v1/ws on one node', async (t) => {
  const nodes = await KalamNodes.start({ members: 0 });
  t.after(() => nodes.close());
  const url = nodes.url(1);
  await ok(
    url,
    root,
    [
      'CREATE NAMESPACE app',
      'CREATE TABLE app.items (id BIGINT PRIMARY KEY, label TEXT, done BOOLEAN DEFAULT false)',
      "CREATE SHARED TABLE app.board (id BIGINT PRIMARY KEY, msg TEXT) WITH (ACCESS_LEVEL = 'PUBLIC')",
      "CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user",
      "CREATE USER 'bob' WITH PASSWORD 'bob-pass' ROLE user",
    ].join('; '),
  );
  const clients: LiveClient[] = [];
  t.after(() => clients.forEach((c) => c.terminate()));
  const connect = async (auth: Parameters<typeof LiveClient.connect>[1] = ALICE): Promise<LiveClient> => {
    const c = await LiveClient.connect(url, auth);
    clients.push(c);
    return c;
  };

  await t.test('authentication: basic and JWT succeed, a wrong password gets auth_error and a close', async () => {
    const c = await connect();
    assert.ok(c.ws.readyState === c.ws.OPEN);
    const login = await request(url, '/v1/api/auth/login', { body: ALICE });
    const token = String(login.body['access_token']);
    await connect({ token });
    assert.equal(await codeOf(LiveClient.connect(url, { username: 'alice', password: 'nope' })), 'AUTH_ERROR');
    assert.equal(await codeOf(LiveClient.connect(url, { token: `${token}x` })), 'AUTH_ERROR');
  });

  await t.test('initial rows come in batches of batch_size, then changes with old values and _seq', async () => {
    const values = Array.from({ length: 25 }, (_, i) => `(${i + 1}, 'item ${i + 1}', false)`).join(', ');
    await ok(url, alice, `INSERT INTO app.items (id, label, done) VALUES ${values}`);
    const c = await connect();
    const sub = await c.subscribe('all', 'SELECT * FROM app.items', { batch_size: 10 });
    assert.equal(sub.totalRows, 25);
    assert.equal(sub.batches, 3, 'batches of 10, 10 and 5');
    assert.deepEqual(
      sub.initialRows.map((r) => r['id']),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    const seqs = sub.initialRows.map((r) => Number(r['_seq']));
    assert.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      'initial rows by _seq',
    );
    assert.ok(sub.lastSeq >= seqs.at(-1)!, 'the cursor starts at the snapshot point');
    const last = await connect();
    const tail = await last.subscribe('tail', 'SUBSCRIBE TO app.items OPTIONS (last_rows = 3)');
    assert.deepEqual(
      tail.initialRows.map((r) => r['id']),
      [23, 24, 25],
    );

    await ok(url, alice, "INSERT INTO app.items (id, label) VALUES (26, 'new')");
    await ok(url, alice, 'UPDATE app.items SET done = true WHERE id = 26');
    await ok(url, alice, 'DELETE FROM app.items WHERE id = 26');
    await sub.waitFor((s) => s.changes.length >= 3, WAIT_MS);
    const [ins, upd, del] = sub.changes;
    assert.deepEqual([ins?.changeType, upd?.changeType, del?.changeType], ['insert', 'update', 'delete']);
    assert.deepEqual(ins?.row, { id: 26, label: 'new', done: false, _seq: ins?.seq });
    assert.equal(upd?.row['done'], true);
    assert.equal(upd?.old?.['done'], false);
    assert.equal(upd?.old?.['_seq'], ins?.seq, 'old values carry the previous _seq');
    assert.equal(del?.old?.['done'], true);
    assert.equal(del?.row['_deleted'], true);
    assert.ok(ins !== undefined && upd !== undefined && del !== undefined);
    assert.ok(ins.seq < upd.seq && upd.seq < del.seq, '_seq increases in commit order');
    assert.equal(sub.lastSeq, del?.seq);
    await tail.waitFor((s) => s.changes.length >= 3, WAIT_MS);
  });

  await t.test('a WHERE filter: an update leaving it is a delete, one entering it an insert', async () => {
    const c = await connect();
    const open = await c.subscribe('open', 'SELECT * FROM app.items WHERE done = false AND id > 100');
    assert.equal(open.initialRows.length, 0);
    await ok(url, alice, "INSERT INTO app.items (id, label) VALUES (101, 'a'), (102, 'b')");
    await ok(url, alice, 'UPDATE app.items SET done = true WHERE id = 101');
    await ok(url, alice, "INSERT INTO app.items (id, label, done) VALUES (103, 'c', true)");
    await ok(url, alice, 'UPDATE app.items SET done = false WHERE id = 103');
    await open.waitFor((s) => s.changes.length >= 4, WAIT_MS);
    assert.deepEqual(
      open.changes.map((e) => [e.changeType, e.row['id']]),
      [
        ['insert', 101],
        ['insert', 102],
        ['delete', 101],
        ['insert', 103],
      ],
    );
  });

  await t.test('a SHARED table: every subscriber sees every change; bob never sees alice rows', async () => {
    const a = await connect();
    const b = await connect({ username: 'bob', password: 'bob-pass' });
    const sa = await a.subscribe('board', 'SELECT * FROM app.board');
    const sb = await b.subscribe('board', 'SELECT * FROM app.board');
    const bobItems = await b.subscribe('items', 'SELECT * FROM app.items');
    assert.equal(bobItems.initialRows.length, 0);
    await ok(url, root, "INSERT INTO app.board (id, msg) VALUES (1, 'hello')");
    await ok(url, alice, "INSERT INTO app.items (id, label) VALUES (200, 'private')");
    await sa.waitFor((s) => s.changes.length === 1, WAIT_MS);
    await sb.waitFor((s) => s.changes.length === 1, WAIT_MS);
    await ok(url, root, "INSERT INTO app.board (id, msg) VALUES (2, 'sync')");
    await sb.waitFor((s) => s.changes.length === 2, WAIT_MS);
    assert.equal(bobItems.changes.length, 0);
  });

  await t.test('unsubscribe stops the changes and removes the registration', async () => {
    const c = await connect();
    const sub = await c.subscribe('gone', 'SELECT * FROM app.items');
    const before = await ok(url, root, `SELECT node_id FROM system.live_queries WHERE live_id = '${sub.liveId}'`);
    assert.deepEqual(before, [[1]], 'system.live_queries lists it with its node_id');
    await sub.unsubscribe();
    await ok(url, alice, "INSERT INTO app.items (id, label) VALUES (300, 'after')");
    const after = await ok(url, root, `SELECT live_id FROM system.live_queries WHERE live_id = '${sub.liveId}'`);
    assert.deepEqual(after, []);
    assert.equal(sub.changes.length, 0);
  });

  await t.test('limits: per connection, per user across connections, message size, before authenticate', async (t) => {
    // Everything alice holds so far ends, so the counts below start from zero.
    for (const c of clients.splice(0)) await c.close();
    await waitForRows(url, "SELECT live_id FROM system.live_queries WHERE user_id = 'alice'", 0);
    const c1 = await connect();
    const subs: LiveSubscription[] = [];
    for (let i = 0; i < WS_LIMITS.subscriptionsPerConnectionMax; i++) {
      subs.push(await c1.subscribe(`s${i}`, 'SELECT * FROM app.board'));
    }
    const more = await codeOf(c1.subscribe('one-more', 'SELECT * FROM app.board'));
    assert.equal(more, 'SUBSCRIPTION_LIMIT_EXCEEDED');
    // Free one slot on c1; alice now holds 9: the next one (on another connection) is the 10th, the one after it
    // is refused by the user shard, which counts across connections and nodes.
    await subs[0]!.unsubscribe();
    const c2 = await connect();
    await c2.subscribe('tenth', 'SELECT * FROM app.board');
    const refused = c2.subscribe('eleventh', 'SELECT * FROM app.board');
    await assert.rejects(refused, (err: unknown) => {
      assert.ok(err instanceof LiveClientError);
      assert.equal(err.code, 'SUBSCRIPTION_LIMIT_EXCEEDED');
      assert.match(err.message, /10 live queries/);
      return true;
    });
    const before = c2.other.length;
    c2.send({ type: 'ping', pad: 'x'.repeat(WS_LIMITS.messageBytesMax + 10) });
    c2.send({ type: 'ping' });
    await waitUntil(() => c2.other.length >= before + 2, 'answers to both pings');
    const tooBig = c2.other[before];
    assert.ok(tooBig !== undefined && tooBig.type === 'error', JSON.stringify(tooBig));
    assert.equal(tooBig.code, 'MESSAGE_TOO_LARGE');
    assert.match(tooBig.message, /at most 1048576 bytes/);
    // A socket that has not authenticated is refused everything but authenticate.
    const raw = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
    t.after(() => raw.terminate());
    const first = new Promise<Record<string, unknown>>((resolve) =>
      raw.once('message', (d: Buffer) => resolve(JSON.parse(d.toString('utf8')) as Record<string, unknown>)),
    );
    await new Promise((resolve) => raw.once('open', resolve));
    raw.send(JSON.stringify({ type: 'subscribe', subscription: { id: 'x', sql: 'SELECT * FROM app.board' } }));
    const closed = new Promise<number>((resolve) => raw.once('close', (code: number) => resolve(code)));
    const answer = await first;
    assert.equal(answer['type'], 'error');
    assert.equal(answer['code'], 'UNAUTHORIZED');
    assert.ok(
      c2.other.slice(before).some((m) => m.type === 'pong'),
      'the connection stays usable',
    );
    // … and closed (auth_error, 4401) once WS_LIMITS.authTimeoutMs has passed without an authenticate.
    assert.equal(await closed, 4401);
    // More than WS_LIMITS.messagesPerSecondMax messages in a second: the excess is refused, the socket stays.
    const mark = c2.other.length;
    for (let i = 0; i < WS_LIMITS.messagesPerSecondMax + 10; i++) c2.send({ type: 'ping' });
    await waitUntil(() => c2.other.length >= mark + WS_LIMITS.messagesPerSecondMax + 10, 'an answer to every ping');
    const limited = c2.other.slice(mark).filter((m) => m.type === 'error' && m.code === 'RATE_LIMIT_EXCEEDED');
    assert.ok(limited.length >= 10 - 1, `${limited.length} refused`);
  });

  await t.test('SUBSCRIBE TO over the SQL API answers with the subscription to send on /v1/ws', async () => {
    const r = await sql(url, alice, "SUBSCRIBE TO app.items WHERE label = 'x' OPTIONS (last_rows = 5)");
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const row = rowsOf(r)[0] as [string, string, string, string];
    assert.match(row[0], /^sub-/);
    assert.match(row[1], /^ws:\/\/.*\/v1\/ws$/);
    assert.equal(row[2], "SELECT * FROM app.items WHERE (label = 'x')");
    assert.deepEqual(JSON.parse(row[3]), { last_rows: 5 });
    const missing = await sql(url, alice, 'SUBSCRIBE TO app.nope');
    assert.equal((missing.body['error'] as { code: string }).code, 'TABLE_NOT_FOUND');
  });

  await t.test('KILL LIVE QUERY ends the subscription with SUBSCRIPTION_KILLED', async () => {
    for (const c of clients.splice(0)) await c.close();
    await waitForRows(url, "SELECT live_id FROM system.live_queries WHERE user_id = 'alice'", 0);
    const c = await connect();
    const sub = await c.subscribe('victim', 'SELECT * FROM app.items');
    const bob = await sql(url, basic('bob', 'bob-pass'), `KILL LIVE QUERY '${sub.liveId}'`);
    assert.equal((bob.body['error'] as { code: string }).code, 'PERMISSION_DENIED');
    await ok(url, root, `KILL LIVE QUERY '${sub.liveId}'`);
    await sub.waitFor((s) => s.ended, WAIT_MS);
    assert.equal(sub.errors[0]?.code, 'SUBSCRIPTION_KILLED');
    assert.deepEqual(
      await ok(url, root, `SELECT live_id FROM system.live_queries WHERE live_id = '${sub.liveId}'`),
      [],
    );
  });

  await t.test('from_seq_id resumes exactly after the cursor', async () => {
    const c = await connect();
    const sub = await c.subscribe('cursor', 'SELECT * FROM app.items WHERE id >= 400');
    await ok(url, alice, "INSERT INTO app.items (id, label) VALUES (400, 'a')");
    await sub.waitFor((s) => s.changes.length === 1, WAIT_MS);
    const cursor = sub.lastSeq;
    await c.close();
    await ok(url, alice, "INSERT INTO app.items (id, label) VALUES (401, 'b')");
    await ok(url, alice, "UPDATE app.items SET label = 'b2' WHERE id = 401");
    await ok(url, alice, 'DELETE FROM app.items WHERE id = 400');
    const again = await connect();
    const resumed = await again.subscribe('cursor', 'SELECT * FROM app.items WHERE id >= 400', { from_seq_id: cursor });
    assert.equal(resumed.initialRows.length, 0);
    await resumed.waitFor((s) => s.changes.length >= 3, WAIT_MS);
    assert.deepEqual(
      resumed.changes.map((e) => [e.changeType, e.row['id']]),
      [
        ['insert', 401],
        ['update', 401],
        ['delete', 400],
      ],
    );
    assert.ok(resumed.changes.every((e) => e.seq > cursor));
    await ok(url, alice, "INSERT INTO app.items (id, label) VALUES (402, 'c')");
    await resumed.waitFor((s) => s.changes.length === 4, WAIT_MS);
  });
});

async function waitUntil(check: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitForRows(url: string, text: string, n: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const rows = await ok(url, root, text);
    if (rows.length === n) return;
    if (Date.now() > deadline) throw new Error(`${text}: ${rows.length} rows, expected ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
