// What this proves (issue [M9] §2, "caught up (snapshot + log)"): a node that joins a cluster whose groups have
// compacted their logs is caught up by snapshot installs, becomes a voter of every group and serves every row. Three
// `kalam serve` processes with a small `cluster.raft.snapshot_threshold` take rows for three users (three user
// shards) until every founder has compacted those shards' logs past entry 1 — so a learner that starts empty cannot
// be sent their log from the beginning; then a fourth node joins with an empty data_dir (its own threshold the
// default, so it never compacts on its own). Once it is a voter of all 36 groups: its driver counts at least one
// installed snapshot per compacted group, each compacted group's log on it starts past the founders' snapshot
// index (it came from a snapshot, not from the log), a group the founders never compacted starts at 0 on it (that
// one came from the log), and a linearizable SELECT on it returns every row.
// How: support/nodes.ts (ports chosen at run time, every process reaped in t.after); every wait is bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ShardRouter, groupName } from '@kalam/kalamdb';

import type { ClusterStatus } from '../src/index.js';
import { basic, eventually, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const THRESHOLD = 20;
const ROWS_PER_USER = 45;
/** Generous: one conf change per group at a time, two groups catching up at once, on a loaded machine. */
const GROW_MS = 240_000;
const SETTLE_MS = 20_000;

async function status(url: string): Promise<ClusterStatus> {
  const r = await request(url, '/v1/api/cluster/status', { auth: root });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as unknown as ClusterStatus;
}

/** Three users on three different user shards. */
function threeUsers(): { user: string; group: string }[] {
  const router = new ShardRouter({ numUserShards: 32, numSharedShards: 1 });
  const out: { user: string; group: string }[] = [];
  for (let i = 0; out.length < 3 && i < 1_000; i++) {
    const group = groupName(router.groupForUser(`s${i}`));
    if (!out.some((u) => u.group === group)) out.push({ user: `s${i}`, group });
  }
  assert.equal(out.length, 3);
  return out;
}

test('a node joining a cluster whose logs were compacted is caught up by snapshots and serves every row', async (t) => {
  const nodes = await KalamNodes.start({ members: 3, snapshotThreshold: THRESHOLD });
  t.after(() => nodes.close());
  const [n1, n2] = [nodes.url(1), nodes.url(2)];
  const users = threeUsers();
  const setup = await sql(
    n1,
    root,
    [
      'CREATE NAMESPACE app',
      'CREATE USER TABLE app.items (id BIGINT PRIMARY KEY, label TEXT)',
      ...users.map((u) => `CREATE USER '${u.user}' WITH PASSWORD '${u.user}-password' ROLE user`),
    ].join('; '),
  );
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  // One Raft entry per row, so each of the three shards goes well past the threshold.
  for (let id = 1; id <= ROWS_PER_USER; id++) {
    for (const u of users) {
      const stmt = `EXECUTE AS USER '${u.user}' (INSERT INTO app.items (id, label) VALUES (${id}, '${u.user}-${id}'))`;
      const r = await sql(nodes.url(1 + (id % 3)), root, stmt);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  }

  // Every founder has compacted the three shards' logs past entry 1: the join below cannot be served from the log.
  const compacted = new Map<string, number>();
  for (const id of [1, 2, 3]) {
    const s = await eventually(SETTLE_MS, `node ${id} compacted the three shards`, async () => {
      const st = await status(nodes.url(id));
      const ok = users.every((u) => (st.groups.find((g) => g.name === u.group)?.snapshot_index ?? 0) > 0);
      return ok ? st : undefined;
    });
    for (const g of s.groups) {
      if (g.snapshot_index > 0) compacted.set(g.name, Math.min(compacted.get(g.name) ?? Infinity, g.snapshot_index));
    }
  }
  // Groups compacted on all three founders (another may have compacted on one or two only).
  const founders = await Promise.all([1, 2, 3].map((id) => status(nodes.url(id))));
  const everywhere = [...compacted.keys()].filter((name) =>
    founders.every((s) => (s.groups.find((g) => g.name === name)?.snapshot_index ?? 0) > 0),
  );
  for (const u of users) assert.ok(everywhere.includes(u.group), `${u.group} compacted on every founder`);
  // Groups far from the threshold on every founder: the join's few entries (three conf changes, a no-op per new
  // leader) cannot make them compact meanwhile, so node 4 must get these from the log.
  const logOnly = founders[0]!.groups
    .map((g) => g.name)
    .filter((name) =>
      founders.every((s) => {
        const g = s.groups.find((x) => x.name === name);
        return g !== undefined && g.snapshot_index === 0 && g.applied_index <= THRESHOLD / 2;
      }),
    );
  assert.ok(logOnly.length > 0, 'some group far from compaction');

  await nodes.prepareJoiner(4, n2);
  const ready = await nodes.startNode(4);
  assert.equal(ready['node_id'], 4);
  const n4 = nodes.url(4);
  await eventually(
    GROW_MS,
    'node 4 a voter of all 36 groups, on node 1 and on node 4',
    async () => {
      for (const url of [n1, n4]) {
        const s = await status(url);
        const behind = s.groups.filter((g) => JSON.stringify([g.voters, g.learners]) !== '[[1,2,3,4],[]]');
        if (s.groups.length !== 36 || behind.length > 0)
          throw new Error(`${url}: ${behind.map((g) => g.name).join(', ')}`);
      }
      return true;
    },
    500,
  );

  const mine = await status(n4);
  for (const name of everywhere) {
    const g = mine.groups.find((x) => x.name === name)!;
    // Its own threshold is the default (10,000 entries), so a log that starts past 0 here began at a snapshot.
    assert.ok(
      g.snapshot_index >= compacted.get(name)!,
      `node 4 ${name}: log starts at ${g.snapshot_index}, founders compacted to ${compacted.get(name)}`,
    );
  }
  for (const name of logOnly) {
    const g = mine.groups.find((x) => x.name === name)!;
    assert.equal(g.snapshot_index, 0, `node 4 ${name} came from the log`);
  }
  assert.ok(mine.driver !== null);
  assert.ok(
    mine.driver.snapshots_installed >= everywhere.length,
    `node 4 installed ${mine.driver.snapshots_installed} snapshots for ${everywhere.length} compacted groups`,
  );
  t.diagnostic(
    `groups compacted on every founder: ${everywhere.length}; from the log: ${logOnly.length}; ` +
      `node 4 installed ${mine.driver.snapshots_installed}`,
  );

  // Through node 4 alone, a linearizable read of every row of every user.
  for (const u of users) {
    const got = rowsOf(
      await sql(n4, root, `EXECUTE AS USER '${u.user}' (SELECT id, label FROM app.items ORDER BY id)`),
    );
    const expected = Array.from({ length: ROWS_PER_USER }, (_, i) => [i + 1, `${u.user}-${i + 1}`]);
    assert.deepEqual(got, expected, `${u.user} on node 4`);
  }
});
