// Catch-up by snapshot carries rows (issue 4 §4): a 3-node cluster of real `kalam serve` processes with a small
// `cluster.raft.snapshot_threshold`, so that after carol's 60 inserts (one Raft entry each) every node has taken a
// snapshot of carol's user shard and compacted its log (the manager keeps threshold/2 entries behind a snapshot).
// Node 3 is SIGKILLed, its data folder deleted and the node started again: the leader no longer holds entry 1 of
// that shard, so the only way back is an InstallSnapshot. Then, through node 3 alone, carol reads every row with
// its content, and the nodes' cluster status shows node 3 installed a snapshot a peer built for it on demand. Ports are chosen at run time; every process is reaped in t.after.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';

import { ShardRouter, groupName } from '@kalam/kalamdb';

import type { ClusterStatus, GroupStatus } from '../src/index.js';
import { basic, bearer, eventually, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const THRESHOLD = 20;
const ROWS = 60;
const CATCH_UP_MS = 20_000;

async function shardStatus(url: string, shard: string): Promise<GroupStatus> {
  const r = await request(url, '/v1/api/cluster/status', { auth: root });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const group = (r.body as unknown as ClusterStatus).groups.find((g) => g.name === shard);
  assert.ok(group !== undefined, `${url} does not report ${shard}`);
  return group;
}

async function driverOf(url: string): Promise<NonNullable<ClusterStatus['driver']>> {
  const r = await request(url, '/v1/api/cluster/status', { auth: root });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const driver = (r.body as unknown as ClusterStatus).driver;
  assert.ok(driver !== null, `${url} runs no driver`);
  return driver;
}

test('a node whose data folder was wiped catches up by snapshot and serves the rows', async (t) => {
  const nodes = await KalamNodes.start({ members: 3, snapshotThreshold: THRESHOLD });
  t.after(() => nodes.close());
  const n1 = nodes.url(1);
  const shard = groupName(new ShardRouter({ numUserShards: 32, numSharedShards: 1 }).groupForUser('carol'));

  const ddl = await sql(
    n1,
    root,
    [
      'CREATE NAMESPACE app',
      'CREATE USER TABLE app.items (id BIGINT PRIMARY KEY, label TEXT)',
      "CREATE USER 'carol' WITH PASSWORD 'carol-pass' ROLE user",
    ].join('; '),
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  const login = await request(n1, '/v1/api/auth/login', { body: { username: 'carol', password: 'carol-pass' } });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const carol = bearer(login.body['access_token'] as string);

  const expected: unknown[][] = [];
  for (let id = 1; id <= ROWS; id++) {
    const r = await sql(n1, carol, `INSERT INTO app.items (id, label) VALUES (${id}, 'row-${id}')`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    expected.push([id, `row-${id}`]);
  }

  // Every node has applied the inserts and snapshotted the shard past the entries it keeps (threshold/2), so no
  // log still holds the shard's first entry.
  for (const id of nodes.ids()) {
    await eventually(10_000, `node ${id} did not snapshot ${shard}`, async () => {
      const g = await shardStatus(nodes.url(id), shard);
      return g.applied_index >= ROWS && g.snapshot_index >= THRESHOLD ? g : undefined;
    });
  }

  assert.throws(() => nodes.wipe(3), /is running/);
  assert.equal((await nodes.kill(3, 'SIGKILL')).signal, 'SIGKILL');
  assert.ok(existsSync(nodes.dataDir(3)), 'node 3 had a data folder');
  nodes.wipe(3);
  assert.ok(!existsSync(nodes.dataDir(3)), 'node 3 data folder is gone');
  await nodes.startNode(3);
  const n3 = nodes.url(3);

  // Through node 3 only: a linearizable read there waits for node 3 to apply up to the leader's commit index.
  const rows = await eventually(CATCH_UP_MS, 'node 3 did not serve the rows', async () => {
    const r = await sql(n3, carol, 'SELECT id, label FROM app.items ORDER BY id');
    const got = rowsOf(r);
    return got.length === ROWS ? got : undefined;
  });
  assert.deepEqual(rows, expected);
  assert.deepEqual(rowsOf(await sql(n3, carol, 'SELECT COUNT(*) FROM app.items')), [[ROWS]]);

  // The catch-up came by snapshot: every peer's log starts past the shard's first entry, so from empty node 3 could
  // only come back by installing one — which a peer built for it on demand (compaction keeps no snapshot), and which
  // node 3's log now starts at or after.
  const mine = await shardStatus(n3, shard);
  assert.ok(mine.applied_index >= ROWS, `node 3 ${shard}: ${JSON.stringify(mine)}`);
  const peers = await Promise.all([1, 2].map((id) => shardStatus(nodes.url(id), shard)));
  assert.ok(
    peers.every((g) => g.snapshot_index >= THRESHOLD) && mine.snapshot_index >= THRESHOLD,
    `node 3 log offset ${mine.snapshot_index}, peers ${peers.map((g) => g.snapshot_index).join(', ')}`,
  );
  const drivers = await Promise.all(nodes.ids().map((id) => driverOf(nodes.url(id))));
  assert.ok(drivers[2]!.snapshots_installed >= 1, `node 3 installed a snapshot: ${JSON.stringify(drivers[2])}`);
  assert.ok(
    drivers.slice(0, 2).some((d) => d.snapshots_built >= 1),
    `a peer built one for it: ${JSON.stringify(drivers)}`,
  );
});
