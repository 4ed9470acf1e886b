// ALTER CLUSTER on real `kalam serve` processes (issue [M9] §3): the SQL face of the removal API, with its checks and
// codes — an unknown node is 404 NODE_NOT_FOUND, two of three voters at once 409 TOO_MANY_AT_ONCE, a removal that
// would leave a group's voters without a live majority 409 QUORUM_AT_RISK, a user role 403 PERMISSION_DENIED;
// ALTER CLUSTER ADD NODE is 400 INVALID_SQL pointing at --join; ALTER CLUSTER REMOVE NODE 3 answers [[3, 'leaving']]
// and the reconciler then takes node 3 out of every group and lists it removed, while the two left serve writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { basic, eventually, request, rowsOf, seededMembers, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const SETTLE_MS = 30_000;
/** Generous: one configuration change per group at a time, on a loaded machine. */
const CHANGE_MS = 180_000;

function errorOf(r: JsonReply): [number, string, string] {
  const error = r.body['error'] as { code: string; message: string } | undefined;
  return [r.status, error?.code ?? '(none)', error?.message ?? ''];
}

test('ALTER CLUSTER REMOVE NODE: the removal API through SQL, its refusals, and a removal that completes', async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const [n1, n2] = [nodes.url(1), nodes.url(2)];
  // The replicated list on the node the removals go to (node 2), not the view that stands in before it is seeded.
  await seededMembers(n2, root, 3, SETTLE_MS);
  // The status shows each group's configuration; no group is in a joint configuration at rest.
  const clusterStatus = await request(n1, '/v1/api/cluster/status', { auth: root });
  const groups = clusterStatus.body['groups'] as { voters: number[]; learners: number[]; voters_outgoing: number[] }[];
  assert.deepEqual([groups[0]?.voters, groups[0]?.learners, groups[0]?.voters_outgoing], [[1, 2, 3], [], []]);
  const setup = await sql(
    n1,
    root,
    "CREATE USER 'ann' WITH PASSWORD 'ann-password-1' ROLE user; CREATE NAMESPACE app; " +
      'CREATE SHARED TABLE app.kv (id BIGINT PRIMARY KEY, v TEXT)',
  );
  assert.equal(setup.status, 200, JSON.stringify(setup.body));

  const [status, code] = errorOf(await sql(n2, root, 'ALTER CLUSTER REMOVE NODE 9'));
  assert.deepEqual([status, code], [404, 'NODE_NOT_FOUND']);
  assert.deepEqual(errorOf(await sql(n1, root, 'ALTER CLUSTER REMOVE NODE 2, 3')).slice(0, 2), [
    409,
    'TOO_MANY_AT_ONCE',
  ]);
  const denied = await sql(n1, basic('ann', 'ann-password-1'), 'ALTER CLUSTER REMOVE NODE 3');
  assert.deepEqual(errorOf(denied).slice(0, 2), [403, 'PERMISSION_DENIED']);
  const [addStatus, addCode, addMessage] = errorOf(await sql(n1, root, "ALTER CLUSTER ADD NODE '127.0.0.1:1'"));
  assert.deepEqual([addStatus, addCode], [400, 'INVALID_SQL']);
  assert.match(addMessage, /--join/);

  // Node 3 down: removing node 2 would leave voters 1 and 3 with one live.
  await nodes.kill(3, 'SIGKILL');
  await eventually(SETTLE_MS, 'QUORUM_AT_RISK while node 3 is down', async () => {
    const r = await sql(n1, root, 'ALTER CLUSTER REMOVE NODE 2');
    assert.notEqual(r.status, 200, 'a removal that risks quorum was accepted');
    return errorOf(r)[1] === 'QUORUM_AT_RISK' ? true : undefined;
  });
  await nodes.startNode(3);

  const removed = await eventually(SETTLE_MS, 'node 3 leaving', async () => {
    const r = await sql(n2, root, 'ALTER CLUSTER REMOVE NODE 3');
    return r.status === 200 ? r : undefined;
  });
  assert.deepEqual(rowsOf(removed), [[3, 'leaving']]);
  await eventually(
    CHANGE_MS,
    'no group lists node 3, and it is listed removed',
    async () => {
      const groups = rowsOf(await sql(n1, root, 'SELECT voters, learners FROM system.cluster_groups'));
      const list = rowsOf(await sql(n1, root, 'SELECT state FROM system.cluster_nodes WHERE node_id = 3'));
      const out = groups.length === 36 && groups.every((g) => g[0] === '[1,2]' && g[1] === '[]');
      return out && list[0]?.[0] === 'removed' ? true : undefined;
    },
    500,
  );
  const again = await sql(n1, root, 'ALTER CLUSTER REMOVE NODE 3');
  assert.deepEqual(errorOf(again).slice(0, 2), [409, 'NODE_ALREADY_LEAVING']);
  await eventually(SETTLE_MS, 'a write on the two left', async () => {
    const w = await sql(n2, root, "INSERT INTO app.kv (id, v) VALUES (1, 'one')");
    return w.status === 200 ? true : undefined;
  });
  assert.deepEqual(rowsOf(await sql(n1, root, 'SELECT v FROM app.kv')), [['one']]);
});
