// from_seq_id from the future (adversaries.md §4: refuse what cannot be honoured, never deliver silently nothing),
// on a 3-node cluster of real `kalam serve` processes. A cursor beyond the newest `_seq` of the subscription's
// group is refused with RESUME_AHEAD on every node, and the connection stays usable. The refusal is decided
// after a read barrier on the group, so a cursor another node has just handed out is never refused: a change
// seen by a subscriber on node 1 is at once a valid starting point on nodes 2 and 3 (which may not have applied
// it yet when the subscribe arrives), and the newest cursor itself is accepted and followed by the next change.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LiveClient, LiveClientError } from '../src/index.js';
import { basic, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const alice = basic('alice', 'alice-pass');
const ALICE = { username: 'alice', password: 'alice-pass' };
const QUERY = 'SELECT * FROM app.items';
const WAIT_MS = 15_000;
/** Fresh cursors handed from node 1 to nodes 2 and 3, each right after its write. */
const HANDOVERS = 12;

async function insert(url: string, id: number): Promise<void> {
  const r = await sql(url, alice, `INSERT INTO app.items (id, label) VALUES (${id}, 'item ${id}')`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

test('from_seq_id beyond the newest change is refused; a cursor from another node never is', async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const clients: LiveClient[] = [];
  t.after(() => clients.forEach((c) => c.terminate()));
  const ddl = await sql(
    nodes.url(1),
    root,
    [
      'CREATE NAMESPACE app',
      'CREATE TABLE app.items (id BIGINT PRIMARY KEY, label TEXT)',
      "CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user",
    ].join('; '),
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  for (let id = 1; id <= 3; id++) await insert(nodes.url(1), id);
  const connect = async (id: number): Promise<LiveClient> => {
    const c = await LiveClient.connect(nodes.url(id), ALICE);
    clients.push(c);
    return c;
  };
  const [c1, c2, c3] = [await connect(1), await connect(2), await connect(3)];
  const reference = await c1.subscribe('ref', QUERY);
  const newest = reference.lastSeq;
  assert.ok(newest > 0, 'the initial load hands out the newest _seq as the cursor');

  await t.test('a cursor beyond the newest change is refused with RESUME_AHEAD on every node', async () => {
    for (const [i, c] of [c1, c2, c3].entries()) {
      for (const from of [newest + 1, newest + 1_000_000, Number.MAX_SAFE_INTEGER]) {
        await assert.rejects(
          c.subscribe(`ahead-${i}-${from}`, QUERY, { from_seq_id: from }),
          (err: unknown) => err instanceof LiveClientError && err.code === 'RESUME_AHEAD',
          `node ${i + 1}, from_seq_id ${from}`,
        );
      }
      // The refusal ended only that subscription: the connection still subscribes.
      const again = await c.subscribe(`after-${i}`, QUERY, { from_seq_id: newest });
      await again.unsubscribe();
    }
  });

  await t.test('the newest cursor is accepted and followed by the next change', async () => {
    const sub = await c2.subscribe('at-newest', QUERY, { from_seq_id: newest });
    await insert(nodes.url(3), 100);
    await sub.waitFor((s) => s.changes.length === 1, WAIT_MS);
    assert.equal(sub.changes[0]?.row['id'], 100);
    assert.ok((sub.changes[0]?.seq ?? 0) > newest);
    await sub.unsubscribe();
  });

  await t.test('a cursor node 1 has just handed out is accepted at once on nodes 2 and 3', async () => {
    for (let k = 0; k < HANDOVERS; k++) {
      const id = 200 + k;
      const before = reference.changes.length;
      await insert(nodes.url(1), id);
      await reference.waitFor((s) => s.changes.length > before, WAIT_MS);
      const cursor = reference.lastSeq;
      const c = k % 2 === 0 ? c2 : c3;
      const sub = await c.subscribe(`handover-${k}`, QUERY, { from_seq_id: cursor });
      assert.deepEqual(sub.errors, []);
      await sub.unsubscribe();
    }
  });
});
