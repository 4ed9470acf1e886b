// What this proves: every SQL response of a cluster node names, in X-Kalam-Shard-Leader, the API URL of the node that
// leads the session user's shard — the same on every node, and the one cluster status reports — so a client can send
// its requests there and skip the forward; a write sent to a follower of that shard is still answered (forwarded) and
// read back on every node; a standalone node sends no such header. How: real `kalam serve` processes (3 members, then
// one standalone); leaders may move (the leader balance), so the agreement is awaited, within a bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ShardRouter, groupName } from '@kalam/kalamdb';

import { SHARD_LEADER_HEADER } from '../src/index.js';
import type { ClusterStatus } from '../src/index.js';
import { basic, eventually, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const alice = basic('alice', 'alice-pass');
const shard = groupName(new ShardRouter({ numUserShards: 32, numSharedShards: 1 }).groupForUser('alice'));

test("a cluster names the leader of the user's shard in every SQL response", async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const urls = nodes.ids().map((id) => nodes.url(id));
  const setup = await sql(
    urls[0]!,
    root,
    "CREATE NAMESPACE app; CREATE TABLE app.items (id BIGINT PRIMARY KEY, label TEXT); CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user",
  );
  assert.equal(setup.status, 200, JSON.stringify(setup.body));

  /** The shard's leader as cluster status reports it, once every node's SQL response names that node. */
  const agreedLeader = (): Promise<number> =>
    eventually(20_000, `every node names the leader of ${shard}`, async () => {
      const status = (await request(urls[0]!, '/v1/api/cluster/status', { auth: root }))
        .body as unknown as ClusterStatus;
      const leader = status.groups.find((g) => g.name === shard)?.leader;
      if (leader === null || leader === undefined) return undefined;
      const named = await Promise.all(
        urls.map(async (url) => (await sql(url, alice, 'SELECT id FROM app.items')).headers?.get(SHARD_LEADER_HEADER)),
      );
      return named.every((n) => n === nodes.url(leader)) ? leader : undefined;
    });

  const leader = await agreedLeader();
  const follower = nodes.ids().find((id) => id !== leader)!;
  const write = await sql(nodes.url(follower), alice, "INSERT INTO app.items (id, label) VALUES (1, 'one')");
  assert.equal(write.status, 200, JSON.stringify(write.body));
  const named = write.headers?.get(SHARD_LEADER_HEADER);
  // The header names the leader as the follower knew it when it answered; it moved only if the balance moved it.
  assert.ok(named === nodes.url(leader) || named === nodes.url(await agreedLeader()), `header ${named}`);
  for (const url of urls)
    assert.deepEqual(rowsOf(await sql(url, alice, 'SELECT id, label FROM app.items')), [[1, 'one']]);
});

test('a standalone node sends no shard-leader header', async (t) => {
  const nodes = await KalamNodes.start({ members: 0 });
  t.after(() => nodes.close());
  const r = await sql(nodes.url(nodes.ids()[0]!), root, 'SHOW NAMESPACES');
  assert.equal(r.status, 200);
  assert.equal(r.headers?.get(SHARD_LEADER_HEADER), null);
});
