// A node wiped and caught up by snapshot after a flush has the flushed rows (issue 6 §1): a 3-node cluster with a
// small snapshot_threshold; carol inserts 30 rows, FLUSH TABLE moves them into a Parquet file on every node, then
// 30 more inserts (hot) push carol's shard past a snapshot taken after the flush. Node 3 is SIGKILLed, its data
// folder deleted, and started again: it can only catch up by InstallSnapshot, and must then serve all 60 rows —
// the 30 flushed ones included — and hold carol's Parquet file in its own storage folder.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { ShardRouter, groupName } from '@kalam/kalamdb';

import type { ClusterStatus } from '../src/index.js';
import { basic, eventually, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const carol = basic('carol', 'carol-pass');
const THRESHOLD = 20;
const WAIT_MS = 40_000;

test('a node wiped after a flush catches up by snapshot with the flushed rows', async (t) => {
  const nodes = await KalamNodes.start({ members: 3, snapshotThreshold: THRESHOLD });
  t.after(() => nodes.close());
  const n1 = nodes.url(1);
  const shard = groupName(new ShardRouter({ numUserShards: 32, numSharedShards: 1 }).groupForUser('carol'));
  const ddl = await sql(
    n1,
    root,
    "CREATE NAMESPACE app; CREATE USER TABLE app.items (id BIGINT PRIMARY KEY, label TEXT); CREATE USER 'carol' WITH PASSWORD 'carol-pass' ROLE user",
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  const expected: unknown[][] = [];
  const insert = async (from: number, to: number): Promise<void> => {
    for (let id = from; id <= to; id++) {
      const r = await sql(n1, carol, `INSERT INTO app.items (id, label) VALUES (${id}, 'row-${id}')`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      expected.push([id, `row-${id}`]);
    }
  };
  await insert(1, 30);
  const jobId = String(rowsOf(await sql(n1, root, 'FLUSH TABLE app.items'))[0]![0]);
  await eventually(WAIT_MS, `job ${jobId} did not complete`, async () => {
    const r = rowsOf(await sql(n1, root, `SELECT status FROM system.jobs WHERE job_id = '${jobId}'`));
    return r[0]?.[0] === 'completed' ? true : undefined;
  });
  await insert(31, 60);
  for (const id of nodes.ids()) {
    await eventually(WAIT_MS, `node ${id} did not snapshot ${shard} after the flush`, async () => {
      const r = await request(nodes.url(id), '/v1/api/cluster/status', { auth: root });
      const g = (r.body as unknown as ClusterStatus).groups.find((x) => x.name === shard);
      return g !== undefined && g.snapshot_index >= 2 * THRESHOLD ? true : undefined;
    });
  }

  await nodes.kill(3, 'SIGKILL');
  nodes.wipe(3);
  await nodes.startNode(3);
  const got = await eventually(WAIT_MS, 'node 3 did not serve the rows', async () => {
    const rows = rowsOf(await sql(nodes.url(3), carol, 'SELECT id, label FROM app.items ORDER BY id'));
    return rows.length === expected.length ? rows : undefined;
  });
  assert.deepEqual(got, expected);
  // One incarnation of app.items: its folder is named by the index of its CreateTable, the same on every node.
  const table = join(nodes.dataDir(3), 'storage', 'app', 'items');
  const incarnations = existsSync(table) ? readdirSync(table) : [];
  assert.equal(incarnations.length, 1, `${table}: ${incarnations.join(', ')}`);
  const folder = join(table, incarnations[0]!, 'users', 'carol');
  assert.ok(existsSync(folder), `node 3 has no ${folder}`);
  assert.equal(readdirSync(folder).filter((f) => f.endsWith('.parquet')).length, 1);
});
