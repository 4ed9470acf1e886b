// What this proves (issue 14 §1): @kalam/client against a real 3-node cluster of `kalam serve` processes.
// - query/execute with params return typed rows and the schema; a statement error carries the server's code and
//   HTTP status; the async-iterator form gives the initial rows, then changes, and `break` unsubscribes.
// - SIGKILL of the node the client talks to (HTTP and its live query): the next call succeeds on another node within
//   the call's deadline; the live query resumes on another node from the last `_seq` it delivered, and what it
//   delivered — initial rows, then changes — is strictly increasing in `_seq` (nothing twice), equals change for
//   change what a reference subscription on a surviving node saw (nothing skipped), and replays to the committed rows.
// - close() releases every timer and socket: a Node process that used query, execute and subscribe exits by itself.
// Ports are chosen at run time; every node and child process is killed by PID in t.after, on success and failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

import { SqlError, createClient } from '../src/index.js';
import type { Client, LiveChange, LiveEvent, LiveInitial } from '../src/index.js';
import { ROOT_PASSWORD, TestCluster } from './support/cluster.js';

type Item = { id: number; label: string; _seq: number };

const ALICE = { user: 'alice', password: 'alice-pass' };
const WAIT_MS = 30_000;
/** A call's deadline in this test: the next call after a SIGKILL must succeed well within it. */
const CALL_DEADLINE_MS = 20_000;
const WRITES = 60;

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function assertIncreasing(changes: readonly LiveChange<Item>[], what: string, from = 0): void {
  let last = from;
  for (const c of changes) {
    assert.ok(c.seq > last, `${what}: _seq ${c.seq} after ${last}`);
    last = c.seq;
  }
}

/** The table as a stream says it is: initial rows, then every change replayed. */
function replay(initial: readonly Item[], changes: readonly LiveChange<Item>[]): [number, string, number][] {
  const state = new Map<number, Item>();
  for (const r of initial) state.set(Number(r.id), r);
  for (const c of changes) {
    if (c.changeType === 'delete') state.delete(Number(c.row.id));
    else state.set(Number(c.row.id), c.row);
  }
  return [...state.values()]
    .map((r): [number, string, number] => [Number(r.id), r.label, Number(r._seq)])
    .sort((a, b) => a[0] - b[0]);
}

test('@kalam/client on a 3-node cluster: SQL, errors, live queries, SIGKILL failover, close', async (t) => {
  const cluster = await TestCluster.start(3);
  t.after(() => cluster.close());
  const clients: Client[] = [];
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const client = (nodes: string[], creds = ALICE): Client => {
    const c = createClient({ nodes, ...creds }, { callDeadlineMs: CALL_DEADLINE_MS });
    clients.push(c);
    return c;
  };
  const root = client(cluster.urls(), { user: 'root', password: ROOT_PASSWORD });
  await root.execute('CREATE NAMESPACE app');
  await root.execute('CREATE TABLE app.items (id BIGINT PRIMARY KEY, label TEXT)');
  await root.execute("CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user");
  // Node 2 first: the client starts there, and moves to the shard leader the server names.
  const alice = client([cluster.url(2), cluster.url(3), cluster.url(1)]);

  await t.test(
    'query and execute with params: typed rows, the schema, row counts; errors carry the server code',
    async () => {
      const w = await alice.execute('INSERT INTO app.items (id, label) VALUES ($1, $2)', [1, 'one']);
      assert.equal(w.rowCount, 1);
      assert.equal(w.replayed, false);
      await alice.execute('INSERT INTO app.items (id, label) VALUES ($1, $2)', [2, 'two']);
      const r = await alice.query<{ id: number; label: string }>(
        'SELECT id, label FROM app.items WHERE id >= $1 ORDER BY id',
        [1],
      );
      assert.deepEqual(r.rows, [
        { id: 1, label: 'one' },
        { id: 2, label: 'two' },
      ]);
      assert.deepEqual(
        r.schema.map((c) => c.name),
        ['id', 'label'],
      );
      assert.equal(r.rowCount, 2);
      const all = await alice.queryAll(
        'SELECT id FROM app.items WHERE id = 1; SELECT label FROM app.items WHERE id = 2',
      );
      assert.deepEqual(
        all.map((x) => x.rows),
        [[{ id: 1 }], [{ label: 'two' }]],
      );
      await assert.rejects(alice.query('SELECT * FROM app.missing'), (e: unknown) => {
        assert.ok(e instanceof SqlError, String(e));
        assert.equal(e.code, 'TABLE_NOT_FOUND');
        assert.equal(e.httpStatus, 404);
        return true;
      });
      await assert.rejects(
        alice.execute('INSERT INTO app.items (id, label) VALUES (1, $1)', ['again']),
        (e: unknown) => {
          assert.ok(e instanceof SqlError && e.code === 'SQL_EXECUTION_ERROR', String(e));
          return true;
        },
      );
    },
  );

  await t.test('the async iterator: initial rows, then a change; break unsubscribes', async () => {
    const seen: LiveEvent<Item>[] = [];
    const iterable = alice.live<Item>('SELECT * FROM app.items');
    for await (const event of iterable) {
      seen.push(event);
      if (event.type === 'initial') await alice.execute("INSERT INTO app.items (id, label) VALUES (3, 'three')");
      if (event.type === 'change') break;
    }
    const [initial, change] = seen as [LiveInitial<Item>, LiveChange<Item>];
    assert.deepEqual(initial.rows.map((r) => r.id).sort(), [1, 2]);
    assert.equal(change.changeType, 'insert');
    assert.equal(change.row.id, 3);
    assert.ok(change.seq > initial.seq);
    assert.equal(iterable.subscription?.active, false, 'break unsubscribed');
  });

  await t.test(
    'SIGKILL the node the client talks to: calls and the live query go on elsewhere, nothing lost or twice',
    async () => {
      await alice.query('SELECT id FROM app.items WHERE id = 1');
      let initial: Item[] = [];
      const changes: LiveChange<Item>[] = [];
      const errors: unknown[] = [];
      const resumes: { node: string; fromSeq: number }[] = [];
      const sub = await alice.subscribe<Item>('SELECT * FROM app.items', {
        onInitial: (e) => (initial = e.rows),
        onChange: (e) => changes.push(e),
        onError: (e) => errors.push(e),
        onResume: (r) => resumes.push(r),
      });
      const talkingTo = alice.nodes().lastUsed;
      assert.ok(talkingTo !== null && sub.node === talkingTo, `HTTP on ${talkingTo}, live query on ${sub.node}`);
      const victim = cluster.idOf(talkingTo);
      const survivors = cluster.ids().filter((id) => id !== victim);
      // The writer and the reference never talk to the victim: their streams are the committed history.
      const writer = client(survivors.map((id) => cluster.url(id)));
      const refClient = client([cluster.url(survivors[0]!)]);
      const reference: LiveChange<Item>[] = [];
      const ref = await refClient.subscribe<Item>('SELECT * FROM app.items', { onChange: (e) => reference.push(e) });
      const refFrom = ref.lastSeq;

      let written = 0;
      const writes = (async () => {
        for (let i = 100; i < 100 + WRITES; i++) {
          // Updates too: an update changes a row that is already in the initial rows or the stream.
          if (i % 4 === 0) await writer.execute('UPDATE app.items SET label = $1 WHERE id = $2', [`u${i}`, i - 2]);
          else await writer.execute('INSERT INTO app.items (id, label) VALUES ($1, $2)', [i, `item ${i}`]);
          written++;
        }
      })();
      await until(() => written >= WRITES / 4 || written === WRITES, 'writes before the kill');
      const beforeKill = changes.length;
      await cluster.kill(victim, 'SIGKILL');

      const started = Date.now();
      const r = await alice.query<{ id: number }>('SELECT id FROM app.items WHERE id = 1');
      const elapsedMs = Date.now() - started;
      assert.deepEqual(r.rows, [{ id: 1 }]);
      assert.ok(elapsedMs < CALL_DEADLINE_MS, `the next call took ${elapsedMs} ms`);
      assert.notEqual(alice.nodes().lastUsed, talkingTo, 'answered by another node');
      assert.equal(alice.nodes().nodes.find((n) => n.url === talkingTo)?.up, false, 'the killed node is marked down');
      const w = await alice.execute('INSERT INTO app.items (id, label) VALUES ($1, $2)', [5_000, 'after the kill']);
      assert.equal(w.rowCount, 1);

      await writes;
      const marker = await writer.query<{ s: number }>('SELECT _seq AS s FROM app.items WHERE id = 5000');
      const markerSeq = Math.max(Number(marker.rows[0]?.s), 0);
      const finalRows = await writer.query<Item>('SELECT id, label, _seq FROM app.items ORDER BY id');
      const lastSeq = Math.max(...finalRows.rows.map((x) => Number(x._seq)));
      await until(() => sub.lastSeq >= lastSeq && ref.lastSeq >= lastSeq, `both streams reach _seq ${lastSeq}`);
      assert.ok(markerSeq > 0);

      assert.deepEqual(errors, []);
      assert.ok(sub.active, 'the live query lives on');
      assert.ok(resumes.length >= 1 && resumes.every((x) => x.node !== talkingTo), JSON.stringify(resumes));
      assert.ok(beforeKill < changes.length, 'changes arrived after the kill');
      const initialSeq = Math.max(0, ...initial.map((x) => Number(x._seq)));
      assertIncreasing(changes, 'the resumed stream', initialSeq);
      assertIncreasing(reference, 'the reference', refFrom);
      assert.deepEqual(
        changes.filter((c) => c.seq > refFrom).map((c) => [c.changeType, c.seq, c.row.id, c.row.label]),
        reference.map((c) => [c.changeType, c.seq, c.row.id, c.row.label]),
        'change for change what the reference saw',
      );
      assert.deepEqual(
        replay(initial, changes),
        finalRows.rows.map((x) => [Number(x.id), x.label, Number(x._seq)]),
        'replayed, the stream is the committed table',
      );
    },
  );

  await t.test('close() releases everything: a Node process that used the client exits by itself', async () => {
    const entry = new URL('../src/index.js', import.meta.url).href;
    const script = `
      import { createClient } from ${JSON.stringify(entry)};
      const db = createClient({ nodes: ${JSON.stringify(
        cluster
          .ids()
          .filter((id) => cluster.isRunning(id))
          .map((id) => cluster.url(id)),
      )}, user: 'alice', password: 'alice-pass' });
      await db.execute("INSERT INTO app.items (id, label) VALUES (7000, 'child')");
      const { rows } = await db.query('SELECT id FROM app.items WHERE id = 7000');
      const sub = await db.subscribe('SELECT * FROM app.items', { onChange() {} });
      await db.close();
      console.log(JSON.stringify({ rows, active: sub.active }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = await new Promise<number | string | null>((resolve) => {
      const timer = setTimeout(() => resolve('still running'), 20_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    assert.equal(exit, 0, `exit ${exit}: ${err}`);
    assert.deepEqual(JSON.parse(out), { rows: [{ id: 7000 }], active: false });
  });
});
