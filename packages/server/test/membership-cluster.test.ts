// Cluster membership end to end on real `kalam serve` processes (issue [M9] §2): a fresh 3-node cluster seeds
// system.cluster_nodes from its static members (three voters, the addresses of the config); a removal is refused
// for an unknown node and for two of three at once; a join request without the cluster secret is refused (401
// JOIN_REFUSED, bad_hmac) and a node started with the wrong secret exits with that reason and leaves no row; a node
// started with `cluster.join` and an empty data_dir gets the next id from meta:system, writes it to node.json, and
// restarted keeps its id without joining again; restarted with the name of another cluster, it refuses to start.
// Then the reconciler, over the Raft core's conf changes: the joined node becomes a voter of all 36 groups and
// answers a linearizable SELECT of rows written before it joined; node 1 removed leaves every group's
// configuration, logs node.removed and stops (and again when restarted: the members refuse its handshake), while
// the three left serve writes and reads.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { createJoinRequest } from '@kalam/multiraft';

import { basic, eventually, request, rowsOf, seededMembers, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const SETTLE_MS = 20_000;
/** Generous: a configuration change per group at a time, two groups catching up at once, on a loaded machine. */
const GROW_MS = 240_000;

function removeVia(url: string, ids: number[]): Promise<JsonReply> {
  return request(url, '/v1/api/cluster/nodes/remove', { auth: root, body: { node_ids: ids } });
}

function code(r: JsonReply): string {
  return (r.body['error'] as { code: string } | undefined)?.code ?? `(status ${r.status})`;
}

async function members(url: string): Promise<unknown[][]> {
  return rowsOf(
    await sql(url, root, 'SELECT node_id, state, rpc_addr, api_url FROM system.cluster_nodes ORDER BY node_id'),
  );
}

test('membership: the seeded list, a refused join, a join that persists its id, a removal that stops the node', async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const [n1, n2] = [nodes.url(1), nodes.url(2)];

  await t.test('a fresh 3-node cluster lists its 3 members as voters', async () => {
    // The list as replicated (created_at set), not the node's own view that stands in before the list is seeded.
    await seededMembers(n1, root, 3, SETTLE_MS);
    const rows = await members(n2);
    assert.equal(rows.length, 3);
    assert.deepEqual(
      rows.map((r) => [r[0], r[1]]),
      [
        [1, 'voter'],
        [2, 'voter'],
        [3, 'voter'],
      ],
    );
    for (const id of [1, 2, 3]) {
      const row = rows[id - 1]!;
      assert.equal(row[3], nodes.url(id), `node ${id}'s api_url`);
      assert.match(String(row[2]), /^127\.0\.0\.1:\d+$/);
    }
    // The same list on every node (it is replicated state), and only for dba and system.
    assert.deepEqual(await members(n1), rows);
    assert.equal((await sql(n1, root, 'SELECT COUNT(*) FROM system.cluster_nodes WHERE is_self')).status, 200);
    // Every group's configuration: the three voters, no learners.
    const groups = rowsOf(await sql(n1, root, 'SELECT group_name, voters, learners FROM system.cluster_groups'));
    assert.equal(groups.length, 36);
    for (const g of groups) assert.deepEqual([g[1], g[2]], ['[1,2,3]', '[]'], String(g[0]));
    const status = await request(n1, '/v1/api/cluster/status', { auth: root });
    const first = (status.body['groups'] as { voters: number[]; learners: number[] }[])[0];
    assert.deepEqual([first?.voters, first?.learners], [[1, 2, 3], []]);
    // Rows the node that joins later must serve.
    const ddl = await sql(
      n1,
      root,
      'CREATE NAMESPACE app; CREATE SHARED TABLE app.kv (id BIGINT PRIMARY KEY, v TEXT); ' +
        "INSERT INTO app.kv (id, v) VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    );
    assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  });

  await t.test('a removal of an unknown node, or of two of three at once, is refused', async () => {
    const r = await removeVia(n1, [9]);
    assert.deepEqual([r.status, code(r)], [404, 'NODE_NOT_FOUND'], JSON.stringify(r.body));
    const two = await removeVia(n1, [2, 3]);
    assert.deepEqual([two.status, code(two)], [409, 'TOO_MANY_AT_ONCE'], JSON.stringify(two.body));
  });

  await t.test('a join request without the cluster secret is refused before anything is proposed', async () => {
    const forged = createJoinRequest(
      'not-the-cluster-secret',
      { rpcAddr: '127.0.0.1:1', apiAddr: 'http://x:1' },
      Date.now(),
    );
    const body = {
      rpc_addr: forged.rpcAddr,
      api_addr: forged.apiAddr,
      ts: forged.ts,
      nonce: forged.nonce,
      hmac: forged.hmac,
    };
    const r = await request(n1, '/v1/api/cluster/join', { body });
    assert.equal(r.status, 401);
    const error = r.body['error'] as { code: string; message: string };
    assert.equal(error.code, 'JOIN_REFUSED');
    assert.match(error.message, /bad_hmac/);
    // Signed right but replayed: refused too.
    const good = createJoinRequest(
      nodes.clusterSecret(),
      { rpcAddr: '127.0.0.1:2', apiAddr: 'http://y:2' },
      Date.now() - 10 * 60_000,
    );
    const stale = await request(n1, '/v1/api/cluster/join', {
      body: { rpc_addr: good.rpcAddr, api_addr: good.apiAddr, ts: good.ts, nonce: good.nonce, hmac: good.hmac },
    });
    assert.equal(stale.status, 401);
    assert.match((stale.body['error'] as { message: string }).message, /stale/);

    await nodes.prepareJoiner(5, n2, 'a-wrong-secret-of-enough-length');
    await assert.rejects(nodes.startNode(5), (err: Error) => {
      assert.match(err.message, /exited \(2\)/);
      assert.match(err.message, /JOIN_REFUSED/);
      assert.match(err.message, /bad_hmac/);
      return true;
    });
    assert.equal((await members(n1)).length, 3, 'no row for a refused join');
  });

  await t.test('a joining node gets the next id, persists it, and restarts without joining again', async () => {
    // Through node 2's Raft RPC address: its transport answers a plain HTTP request with node 2's API URL.
    await nodes.prepareJoiner(4, nodes.rpcAddress(2));
    const ready = await nodes.startNode(4);
    assert.equal(ready['node_id'], 4);
    const identity = JSON.parse(readFileSync(join(nodes.dataDir(4), 'node.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(identity['node_id'], 4);
    assert.equal(identity['cluster_id'], nodes.clusterName());
    assert.equal(identity['origin'], 'join');
    assert.deepEqual(
      (identity['members'] as { node_id: number }[]).map((m) => m.node_id),
      [1, 2, 3, 4],
    );
    // Its groups are built on the founding configuration, not on the member list it was given.
    assert.deepEqual(identity['founders'], [1, 2, 3]);
    const rows = await members(n1);
    // joining, and soon after learner and voter: the reconciler takes it up at once.
    assert.equal(rows[3]?.[0], 4);
    assert.ok(['joining', 'learner', 'voter'].includes(String(rows[3]?.[1])), String(rows[3]?.[1]));
    assert.equal(rows[3]?.[3], nodes.url(4));
    assert.match(nodes.stderrOf(4), /"event":"node.joined"/);
    assert.match(nodes.stderrOf(4), new RegExp(`"event":"node.join_via_api".*"api":"${n2}"`));
    // The cluster status shows the replicated list, the joining node included.
    const status = await request(n1, '/v1/api/cluster/status', { auth: root });
    const listed = (status.body['nodes'] as { node_id: number; state: string }[]).map((n) => n.node_id);
    assert.deepEqual(listed, [1, 2, 3, 4]);
    // The members' transports follow the list: each adds node 4 as a peer once it has applied the row.
    for (const id of [1, 2, 3]) {
      await eventually(SETTLE_MS, `node ${id} adds peer 4`, () =>
        Promise.resolve(
          /"event":"peer_added","peer":4/.test(nodes.stderrOf(id, undefined, 200_000)) ? true : undefined,
        ),
      );
    }

    const stop = await nodes.kill(4, 'SIGTERM');
    assert.equal(stop.code, 0);
    const again = await nodes.startNode(4);
    assert.equal(again['node_id'], 4);
    const log = nodes.stderrOf(4);
    assert.match(log, /"event":"node.identity"/);
    assert.doesNotMatch(log, /"event":"node.joined"/, 'the restart did not join again');
    assert.equal((await members(n1)).length, 4, 'still one row for node 4');
  });

  await t.test('a data_dir of another cluster is refused', async () => {
    await nodes.kill(4, 'SIGTERM');
    await assert.rejects(nodes.startNode(4, { KALAM_CLUSTER_CLUSTER_ID: 'another-cluster' }), (err: Error) => {
      assert.match(err.message, /exited \(2\)/);
      assert.match(err.message, /belongs to cluster/);
      return true;
    });
  });

  await t.test('the joined node becomes a voter of every group and serves a linearizable read', async () => {
    await nodes.startNode(4);
    const n4 = nodes.url(4);
    await eventually(
      GROW_MS,
      'node 4 a voter of all 36 groups, on node 1 and on node 4',
      async () => {
        for (const url of [n1, n4]) {
          const groups = rowsOf(await sql(url, root, 'SELECT group_name, voters, learners FROM system.cluster_groups'));
          const behind = groups.filter((g) => g[1] !== '[1,2,3,4]' || g[2] !== '[]');
          // Thrown, so that a failure says which groups were still behind, and how.
          if (groups.length !== 36 || behind.length > 0) throw new Error(`${url}: ${JSON.stringify(behind)}`);
        }
        return true;
      },
      500,
    );
    await eventually(SETTLE_MS, 'node 4 listed as a voter', async () =>
      (await members(n1))[3]?.[1] === 'voter' ? true : undefined,
    );
    const read = await sql(n4, root, 'SELECT id, v FROM app.kv ORDER BY id');
    assert.deepEqual(rowsOf(read), [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
  });

  await t.test('node 1 removed: no group lists it, it stops with node.removed, the rest serve', async () => {
    const r = await removeVia(n2, [1]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body['nodes'], [{ node_id: 1, state: 'leaving' }]);
    const n4 = nodes.url(4);
    await eventually(
      GROW_MS,
      'no group lists node 1',
      async () => {
        const groups = rowsOf(await sql(n2, root, 'SELECT group_name, voters, learners FROM system.cluster_groups'));
        return groups.length === 36 && groups.every((g) => g[1] === '[2,3,4]' && g[2] === '[]') ? true : undefined;
      },
      500,
    );
    // Its whole log, read while it runs: the refused handshakes that follow push the line out of the tail.
    await eventually(SETTLE_MS, 'node 1 logs node.removed', () =>
      Promise.resolve(/"event":"node.removed"/.test(nodes.stderrOf(1, undefined, 1_000_000)) ? true : undefined),
    );
    const exit = await nodes.exitOf(1, SETTLE_MS);
    assert.ok(exit !== null, 'node 1 stopped by itself');
    assert.equal(exit.code, 0);
    await eventually(SETTLE_MS, 'node 1 listed as removed', async () =>
      (await members(n2))[0]?.[1] === 'removed' ? true : undefined,
    );
    const again = await removeVia(n2, [1]);
    assert.deepEqual([again.status, code(again)], [409, 'NODE_ALREADY_LEAVING']);

    // The three left serve writes and linearizable reads.
    await eventually(SETTLE_MS, 'a write through node 3', async () => {
      const w = await sql(nodes.url(3), root, "INSERT INTO app.kv (id, v) VALUES (4, 'four')");
      return w.status === 200 ? true : undefined;
    });
    assert.deepEqual(rowsOf(await sql(n4, root, 'SELECT id FROM app.kv ORDER BY id')), [[1], [2], [3], [4]]);
    assert.deepEqual(rowsOf(await sql(n2, root, 'SELECT COUNT(*) FROM app.kv')), [[4]]);

    // Restarted, node 1 is refused by the members' handshakes (removed_node) and stops again.
    const stderr = await nodes.startNode(1).then(
      async () => (await nodes.exitOf(1, SETTLE_MS))?.stderr ?? 'still running',
      (err: Error) => err.message,
    );
    assert.match(stderr, /"event":"node.removed"/);
  });
});
