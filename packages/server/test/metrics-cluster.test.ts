// GET /metrics on a 3-node cluster of real `kalam serve` processes ([M10] §4), scraped after writes and reads and
// checked against what the nodes say elsewhere: INSERTs through node 1 move its `ok` proposal counter and its HTTP
// counter of /v1/api/sql by exactly as many; reads through node 2 move its ReadIndex rounds; every group's applied
// and commit index equals GET /v1/api/cluster/status's; every node has written and fsynced its log, applied batches,
// and exchanged frames and bytes with both peers over links that are up. Then the snapshot path (snapshot.test.ts's
// scenario, with a small snapshot_threshold): node 3 is SIGKILLed, its data folder wiped and the node started again,
// and once it serves the rows its metrics show a snapshot installed (with its bytes) and a peer's show one taken and
// sent. Who may scrape is the same on a cluster node: root or the metrics token (given in the environment,
// KALAM_AUTH_METRICS_TOKEN), 401 without credentials, 403 for a user. Ports are chosen at run time; every process is
// reaped in t.after.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ShardRouter, groupName } from '@kalam/kalamdb';

import type { ClusterStatus } from '../src/index.js';
import { basic, bearer, eventually, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';
import { family, parseExposition, total } from './support/prom.js';
import type { Family } from './support/prom.js';

const root = basic('root', ROOT_PASSWORD);
const METRICS_TOKEN = 'cluster-scrape-token-42';
const THRESHOLD = 20;
const ROWS = 60;
const CATCH_UP_MS = 20_000;

async function scrape(url: string, auth = root): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`, { headers: { Authorization: auth }, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  assert.equal(res.status, 200, text.slice(0, 500));
  return parseExposition(text);
}

async function status(url: string): Promise<ClusterStatus> {
  const r = await request(url, '/v1/api/cluster/status', { auth: root });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as unknown as ClusterStatus;
}

const count = (families: Map<string, Family>, histogram: string): number =>
  total(families, histogram, {}, `${histogram}_count`);

test('metrics of a 3-node cluster move with its work and agree with its status', async (t) => {
  const nodes = await KalamNodes.start({
    members: 3,
    snapshotThreshold: THRESHOLD,
    env: { KALAM_AUTH_METRICS_TOKEN: METRICS_TOKEN },
  });
  t.after(() => nodes.close());
  const [n1, n2] = [nodes.url(1), nodes.url(2)];
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

  await t.test('INSERTs through node 1 move its ok proposals and its /v1/api/sql counter', async () => {
    const sqlOk = { method: 'POST', route: '/v1/api/sql', status: '200' };
    const before = await scrape(n1);
    for (let id = 1; id <= ROWS; id++) {
      const r = await sql(n1, carol, `INSERT INTO app.items (id, label) VALUES (${id}, 'row-${id}')`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const after = await scrape(n1);
    const ok = { outcome: 'ok' };
    const proposed = total(after, 'kalam_raft_proposals_total', ok) - total(before, 'kalam_raft_proposals_total', ok);
    assert.ok(proposed >= ROWS, `${proposed} ok proposals for ${ROWS} INSERTs`);
    assert.equal(
      total(after, 'kalam_http_requests_total', sqlOk),
      total(before, 'kalam_http_requests_total', sqlOk) + ROWS,
    );
  });

  await t.test('reads through node 2 move its ReadIndex rounds', async () => {
    const before = total(await scrape(n2), 'kalam_raft_read_index_rounds_total');
    for (let i = 0; i < 5; i++) assert.equal(rowsOf(await sql(n2, carol, 'SELECT id FROM app.items')).length, ROWS);
    const after = total(await scrape(n2), 'kalam_raft_read_index_rounds_total');
    assert.ok(after >= before + 5, `rounds ${before} → ${after}`);
  });

  await t.test('every group’s applied and commit index are the cluster status’s, on every node', async () => {
    for (const id of nodes.ids()) {
      const url = nodes.url(id);
      // Between the two requests a heartbeat may move a commit index: compare once nothing moved (bounded).
      await eventually(10_000, `node ${id}: metrics and status agree`, async () => {
        const s = await status(url);
        const m = await scrape(url);
        assert.equal(s.groups.length, 36);
        const differ = s.groups.filter(
          (g) =>
            total(m, 'kalam_raft_group_applied_index', { group: g.name }) !== g.applied_index ||
            total(m, 'kalam_raft_group_commit_index', { group: g.name }) !== g.commit_index ||
            total(m, 'kalam_raft_group_term', { group: g.name }) !== g.term ||
            total(m, 'kalam_raft_group_role', { group: g.name, role: g.role }) !== 1,
        );
        return differ.length === 0 ? true : undefined;
      });
    }
    const m = await scrape(n1);
    assert.ok(total(m, 'kalam_raft_group_applied_index', { group: shard }) >= ROWS);
  });

  await t.test('each node wrote, fsynced and applied, and talks to both peers', async () => {
    for (const id of nodes.ids()) {
      const m = await scrape(nodes.url(id));
      assert.ok(count(m, 'kalam_raft_log_fsync_duration_seconds') > 0, `node ${id} fsync histogram`);
      assert.ok(count(m, 'kalam_raft_apply_duration_seconds') > 0, `node ${id} apply histogram`);
      assert.ok(total(m, 'kalam_raft_applied_entries_total') >= ROWS, `node ${id} applied entries`);
      assert.ok(total(m, 'kalam_raft_log_transactions_total') > 0, `node ${id} log transactions`);
      assert.ok(total(m, 'kalam_raft_driver_turns_total') > 0, `node ${id} turns`);
      family(m, 'kalam_node_info', 'gauge');
      assert.equal(total(m, 'kalam_node_info', { node_id: String(id), mode: 'cluster' }), 1);
      for (const peer of nodes.ids().filter((p) => p !== id)) {
        const labels = { peer: String(peer) };
        assert.equal(total(m, 'kalam_transport_peer_up', labels), 1, `node ${id} → ${peer} up`);
        for (const direction of ['sent', 'received']) {
          assert.ok(
            total(m, 'kalam_transport_frames_total', { ...labels, direction }) > 0,
            `${id}/${peer} ${direction}`,
          );
          assert.ok(
            total(m, 'kalam_transport_bytes_total', { ...labels, direction }) > 0,
            `${id}/${peer} ${direction}`,
          );
        }
      }
    }
  });

  await t.test('a wiped node catches up by snapshot: installed on it, taken and sent by a peer', async () => {
    for (const id of nodes.ids()) {
      await eventually(10_000, `node ${id} did not snapshot ${shard}`, async () => {
        const g = (await status(nodes.url(id))).groups.find((x) => x.name === shard);
        return g !== undefined && g.applied_index >= ROWS && g.snapshot_index >= THRESHOLD ? g : undefined;
      });
    }
    assert.equal((await nodes.kill(3, 'SIGKILL')).signal, 'SIGKILL');
    nodes.wipe(3);
    await nodes.startNode(3);
    const n3 = nodes.url(3);
    await eventually(CATCH_UP_MS, 'node 3 did not serve the rows', async () =>
      rowsOf(await sql(n3, carol, 'SELECT id FROM app.items')).length === ROWS ? true : undefined,
    );
    const mine = await scrape(n3);
    assert.ok(total(mine, 'kalam_raft_snapshots_total', { event: 'installed' }) >= 1, 'node 3 installed one');
    assert.ok(total(mine, 'kalam_raft_snapshot_bytes_total', { event: 'installed' }) > 0, 'with its bytes');
    const peers = await Promise.all([1, 2].map((id) => scrape(nodes.url(id))));
    const sum = (event: string, name: string): number => peers.reduce((n, m) => n + total(m, name, { event }), 0);
    assert.ok(sum('taken', 'kalam_raft_snapshots_total') >= 1, 'a peer took one');
    assert.ok(sum('sent', 'kalam_raft_snapshots_total') >= 1, 'a peer sent one');
    assert.ok(sum('taken', 'kalam_raft_snapshot_bytes_total') > 0);
    assert.ok(sum('sent', 'kalam_raft_snapshot_bytes_total') > 0);
    // The restart shows on the peers' links to node 3.
    assert.ok(peers.some((m) => total(m, 'kalam_transport_errors_total', { peer: '3', kind: 'disconnected' }) >= 1));
  });

  await t.test('who may scrape a cluster node: root or the metrics token', async () => {
    await scrape(n2, bearer(METRICS_TOKEN));
    const none = await request(n2, '/metrics');
    assert.equal(none.status, 401, JSON.stringify(none.body));
    const user = await request(n2, '/metrics', { auth: carol });
    assert.equal(user.status, 403, JSON.stringify(user.body));
    assert.equal((user.body['error'] as { code: string }).code, 'PERMISSION_DENIED');
  });
});
