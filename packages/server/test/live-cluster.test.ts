// What this proves (issue 6 §2): live queries on a 3-node cluster of real `kalam serve` processes deliver every change
// committed through any node, in commit order, exactly once, and survive the death of the subscriber's node.
// - A subscriber on node 2 and a reference subscriber on node 1 (never killed) watch alice's table while a writer
//   inserts, updates and deletes through node 1: node 2's stream equals the reference, `_seq` strictly increasing.
// - Subscriptions opened on node 3 while writes flow: each one's initial rows are exactly the reference's state at
//   its snapshot point (`snapshot_end_seq`) and its changes exactly the reference's after it — no gap at the seam,
//   no change both in the rows and in the stream.
// - Under continuing writes (through nodes 1 and 3 in turn) node 2 is SIGKILLed; its client resumes on node 3 with from_seq_id = the last `_seq` it
//   saw. The stitched stream (node 2 then node 3) equals the reference change for change: nothing missed, nothing
//   twice; every acknowledged insert is in it; replaying it gives the table's final state.
// - node 2's registrations disappear from system.live_queries (the shard leader's cleanup of a node that stopped
//   pinging, bounded wait) while node 3's new one is listed with node_id 3.
// Ports are chosen at run time; every process and socket is reaped in t.after.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LiveClient, LiveStream, WS_LIMITS } from '../src/index.js';
import type { ChangeEvent, LiveSubscription } from '../src/index.js';
import { basic, rowsOf, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const alice = basic('alice', 'alice-pass');
const ALICE = { username: 'alice', password: 'alice-pass' };
const QUERY = 'SELECT * FROM app.items';
const WAIT_MS = 30_000;
/** Writes before the kill, and in all. */
const WRITES_BEFORE = 40;
const WRITES_RACE = 90;
const WRITES_TOTAL = 180;

type Row = Record<string, unknown>;
type Op = { kind: 'insert' | 'update' | 'delete'; id: number; text: string };

/** The writer's script: mostly inserts, some updates and deletes of earlier rows. */
function op(i: number): Op {
  if (i % 5 === 0)
    return { kind: 'update', id: i - 3, text: `UPDATE app.items SET label = 'v${i}' WHERE id = ${i - 3}` };
  if (i % 7 === 0) return { kind: 'delete', id: i - 2, text: `DELETE FROM app.items WHERE id = ${i - 2}` };
  return { kind: 'insert', id: i, text: `INSERT INTO app.items (id, label) VALUES (${i}, 'item ${i}')` };
}

/** How many row changes the first `n` writes of the script make (an update or delete of a gone row makes none). */
function changesOf(n: number): number {
  const live = new Set<number>();
  let changes = 0;
  for (let i = 1; i <= n; i++) {
    const o = op(i);
    if (o.kind === 'insert') live.add(o.id);
    else if (!live.has(o.id)) continue;
    else if (o.kind === 'delete') live.delete(o.id);
    changes++;
  }
  return changes;
}

/** Runs a write through `url`, retrying while the cluster re-elects; a duplicate on an insert retry means applied. */
async function write(url: string, o: Op): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const r: JsonReply = await sql(url, alice, o.text).catch((err: unknown) => ({
      status: 0,
      body: { error: { code: String(err) } },
    }));
    if (r.status === 200) return;
    if (o.kind === 'insert' && /duplicate/i.test(JSON.stringify(r.body))) return;
    if (Date.now() > deadline) throw new Error(`${o.text} kept failing: ${JSON.stringify(r.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A change as compared between streams. */
function key(e: ChangeEvent): string {
  return JSON.stringify([e.changeType, e.seq, e.row, e.old]);
}

function assertStrictlyIncreasing(events: readonly ChangeEvent[], what: string): void {
  events.forEach((e, i) => {
    if (i > 0) assert.ok(e.seq > events[i - 1]!.seq, `${what}: _seq ${e.seq} after ${events[i - 1]!.seq} at ${i}`);
  });
}

async function waitRows(url: string, text: string, accept: (rows: unknown[][]) => boolean): Promise<unknown[][]> {
  const deadline = Date.now() + 4 * WS_LIMITS.staleAfterMs + WAIT_MS;
  for (;;) {
    const r = await sql(url, root, text).catch(() => undefined);
    if (r?.status === 200 && accept(rowsOf(r))) return rowsOf(r);
    if (Date.now() > deadline) throw new Error(`${text}: not as expected in time (${JSON.stringify(r?.body)})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('live queries on 3 nodes: cross-node delivery, SIGKILL of the subscriber node, resume elsewhere', async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const clients: LiveClient[] = [];
  t.after(() => clients.forEach((c) => c.terminate()));
  const [n1, n3] = [nodes.url(1), nodes.url(3)];
  const n2 = nodes.url(2);
  const ddl = await sql(
    n1,
    root,
    [
      'CREATE NAMESPACE app',
      'CREATE TABLE app.items (id BIGINT PRIMARY KEY, label TEXT)',
      "CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user",
    ].join('; '),
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));

  const c1 = await LiveClient.connect(n1, ALICE);
  const c2 = await LiveClient.connect(n2, ALICE);
  clients.push(c1, c2);
  const reference = await c1.subscribe('ref', QUERY);
  const onNode2 = await c2.subscribe('items', QUERY);
  const stream = new LiveStream();
  stream.attach(onNode2);
  assert.equal(reference.initialRows.length + onNode2.initialRows.length, 0);

  await t.test('a subscriber on node 2 receives the writes made through node 1, in commit order, once', async () => {
    for (let i = 1; i <= WRITES_BEFORE; i++) await write(n1, op(i));
    await reference.waitFor((s) => s.changes.length >= changesOf(WRITES_BEFORE), WAIT_MS);
    assert.equal(reference.changes.length, changesOf(WRITES_BEFORE));
    const target = reference.lastSeq;
    await onNode2.waitFor((s) => s.lastSeq >= target, WAIT_MS);
    assertStrictlyIncreasing(onNode2.changes, 'node 2');
    assert.deepEqual(onNode2.changes.map(key), reference.changes.map(key));
    const live = await waitRows(
      n1,
      "SELECT node_id FROM system.live_queries WHERE user_id = 'alice' ORDER BY node_id",
      (r) => r.length === 2,
    );
    assert.deepEqual(live, [[1], [2]], 'system.live_queries lists each registration with the node holding its socket');
  });

  await t.test(
    'subscribing while writes flow: initial rows at the snapshot point, then every later change',
    async () => {
      const c3 = await LiveClient.connect(n3, ALICE);
      clients.push(c3);
      let next = WRITES_BEFORE + 1;
      const writer = (async () => {
        for (; next <= WRITES_RACE; next++) await write(next % 2 === 0 ? n1 : n3, op(next));
      })();
      const racers: LiveSubscription[] = [];
      for (let k = 0; k < 3; k++) {
        const until = Date.now() + WAIT_MS;
        while (next < WRITES_BEFORE + 10 + 15 * k && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        racers.push(await c3.subscribe(`race${k}`, QUERY, { batch_size: 7 }));
      }
      await writer;
      const MARK = 500_000;
      await write(n1, { kind: 'insert', id: MARK, text: `INSERT INTO app.items (id, label) VALUES (${MARK}, 'mark')` });
      const markSeq = Number(rowsOf(await sql(n1, alice, `SELECT _seq FROM app.items WHERE id = ${MARK}`))[0]?.[0]);
      await reference.waitFor((s) => s.lastSeq >= markSeq, WAIT_MS);
      for (const r of racers) {
        await r.waitFor((s) => s.lastSeq >= markSeq, WAIT_MS);
        const at = r.snapshotSeq;
        const state = new Map<unknown, unknown>();
        for (const e of reference.changes.filter((c) => c.seq <= at)) {
          if (e.changeType === 'delete') state.delete(e.row['id']);
          else state.set(e.row['id'], e.row);
        }
        const byId = (rows: unknown[]) =>
          JSON.stringify([...rows].sort((a, b) => Number((a as Row)['id']) - Number((b as Row)['id'])));
        assert.equal(byId(r.initialRows), byId([...state.values()]), `${r.id}: initial rows = the state at _seq ${at}`);
        assert.deepEqual(
          r.changes.map(key),
          reference.changes.filter((c) => c.seq > at).map(key),
          `${r.id}: the changes after _seq ${at}`,
        );
        await r.unsubscribe();
      }
      assert.ok(
        racers.some((r) => r.initialRows.length > 0 && r.changes.length > 0),
        'the seam was exercised',
      );
    },
  );

  let resumed: LiveSubscription | undefined;
  await t.test(
    'SIGKILL node 2 under writes; the client resumes on node 3 and misses nothing, sees nothing twice',
    async () => {
      let next = WRITES_RACE + 1;
      const writer = (async () => {
        // Through node 1 and node 3 in turn: two proposers, one commit order.
        for (; next <= WRITES_TOTAL; next++) await write(next % 2 === 0 ? n1 : n3, op(next));
      })();
      const progressed = Date.now() + WAIT_MS;
      while (next < WRITES_RACE + 20 && Date.now() < progressed) await new Promise((r) => setTimeout(r, 20));
      await nodes.kill(2, 'SIGKILL');
      await c2.closed;
      const next3 = await stream.resume(n3, ALICE, { id: 'items', sql: QUERY });
      clients.push(next3.client);
      resumed = next3.sub;
      await writer;
      // A last insert marks the end: its `_seq` is above every change before it (deletes included).
      const MARKER = 1_000_000;
      await write(n1, {
        kind: 'insert',
        id: MARKER,
        text: `INSERT INTO app.items (id, label) VALUES (${MARKER}, 'end')`,
      });
      const finalRows = rowsOf(await sql(n1, alice, 'SELECT id, label, _seq FROM app.items ORDER BY id'));
      const markerSeq = Number(finalRows.find((r) => r[0] === MARKER)?.[2]);
      await reference.waitFor((s) => s.lastSeq >= markerSeq, WAIT_MS);
      await resumed.waitFor((s) => s.lastSeq >= markerSeq, WAIT_MS);
      assertStrictlyIncreasing(reference.changes, 'reference');
      assertStrictlyIncreasing(stream.changes, 'stitched stream');
      // An update retried after an ambiguous failure (its node died) may apply twice: at least one change per write.
      assert.ok(reference.changes.length >= changesOf(WRITES_TOTAL) + 2, 'the reference has every committed change');
      assert.equal(stream.changes.length, reference.changes.length, 'as many changes as committed');
      assert.deepEqual(stream.changes.map(key), reference.changes.map(key), 'the stitched stream is the committed one');
      assert.ok(onNode2.changes.length > 0 && resumed.changes.length > 0, 'both nodes delivered part of it');
      // Every acknowledged insert is in it, and replaying it gives the table's final state.
      const inserted = new Set(stream.changes.filter((e) => e.changeType === 'insert').map((e) => e.row['id']));
      for (let i = 1; i <= WRITES_TOTAL; i++) if (op(i).kind === 'insert') assert.ok(inserted.has(i), `insert ${i}`);
      const state = new Map<unknown, unknown[]>();
      for (const e of stream.changes) {
        if (e.changeType === 'delete') state.delete(e.row['id']);
        else state.set(e.row['id'], [e.row['id'], e.row['label'], e.seq]);
      }
      assert.deepEqual(
        [...state.values()].sort((a, b) => Number(a[0]) - Number(b[0])),
        finalRows,
      );
    },
  );

  await t.test("node 2's registrations are cleaned up by the shard leader; node 3's is listed", async () => {
    const rows = await waitRows(
      n1,
      "SELECT node_id, subscription_id FROM system.live_queries WHERE user_id = 'alice' ORDER BY node_id",
      (r) => !r.some((row) => row[0] === 2) && r.length === 2,
    );
    assert.deepEqual(rows, [
      [1, 'ref'],
      [3, 'items'],
    ]);
    assert.equal(resumed?.ended, false, 'the resumed subscription lives on');
  });
});
