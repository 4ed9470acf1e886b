// Liveness and readiness (adversaries.md: a healthcheck must not say healthy while the node cannot serve), on a
// 3-node cluster of real `kalam serve` processes. Every node is live and ready once the groups have leaders;
// with two nodes SIGKILLed the survivor still answers (live, 200) but is not ready (503, naming the groups it
// cannot serve), and the KalamDB-compatible GET /v1/api/healthcheck answers 503 too; once the two are restarted
// the survivor is ready again. Every wait is bounded (generously: elections, CheckQuorum and restarts).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { request } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes } from './support/nodes.js';

/** Elections, CheckQuorum step-downs and restarts all take well under this; a node still wrong after it is broken. */
const SETTLE_MS = 30_000;
const POLL_MS = 100;

/** Polls `path` on `url` until `accept` holds; returns that reply, or fails with the last one seen. */
async function until(url: string, path: string, accept: (r: JsonReply) => boolean, what: string): Promise<JsonReply> {
  const deadline = Date.now() + SETTLE_MS;
  let last: JsonReply | string = 'no reply';
  for (;;) {
    try {
      const r = await request(url, path, { timeoutMs: 5_000 });
      if (accept(r)) return r;
      last = r;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${SETTLE_MS} ms; last: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

test('a node that cannot reach a quorum is live but not ready, and ready again once it can', async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());

  await t.test('every node is live and, once the groups have leaders, ready', async () => {
    for (const id of nodes.ids()) {
      const url = nodes.url(id);
      const live = await request(url, '/v1/api/health/live');
      assert.equal(live.status, 200);
      assert.equal(live.body['status'], 'live');
      const ready = await until(url, '/v1/api/health/ready', (r) => r.status === 200, `node ${id} ready`);
      assert.equal(ready.body['status'], 'ready');
      assert.deepEqual(ready.body['not_serving'], []);
      const legacy = await request(url, '/v1/api/healthcheck');
      assert.equal(legacy.status, 200);
      assert.equal(legacy.body['status'], 'healthy');
    }
  });

  await t.test('with two nodes killed the survivor is live but not ready; the legacy healthcheck agrees', async () => {
    await nodes.kill(2, 'SIGKILL');
    await nodes.kill(3, 'SIGKILL');
    const n1 = nodes.url(1);
    const legacy = await until(n1, '/v1/api/healthcheck', (r) => r.status !== 200, 'the healthcheck stops saying ok');
    assert.equal(legacy.status, 503);
    assert.notEqual(legacy.body['status'], 'healthy');
    const ready = await until(n1, '/v1/api/health/ready', (r) => r.status === 503, 'node 1 not ready');
    assert.equal(ready.body['status'], 'not_ready');
    const notServing = ready.body['not_serving'] as { group: string; reason: string }[];
    assert.ok(notServing.length > 0);
    for (const g of notServing) assert.ok(['no_leader', 'leader_unreachable'].includes(g.reason), g.reason);
    // The groups node 1 led count as well once CheckQuorum steps it down: a leader without a quorum is no leader.
    const none = await until(
      n1,
      '/v1/api/health/ready',
      (r) => (r.body['not_serving'] as unknown[] | undefined)?.length === r.body['groups'],
      'every group reported not serving',
    );
    assert.equal(none.status, 503);
    const live = await request(n1, '/v1/api/health/live');
    assert.equal(live.status, 200, 'the process itself is fine');
  });

  await t.test('with the two restarted, the survivor is ready again', async () => {
    await Promise.all([nodes.startNode(2), nodes.startNode(3)]);
    for (const id of nodes.ids()) {
      await until(nodes.url(id), '/v1/api/health/ready', (r) => r.status === 200, `node ${id} ready again`);
    }
    const legacy = await request(nodes.url(1), '/v1/api/healthcheck');
    assert.deepEqual([legacy.status, legacy.body['status']], [200, 'healthy']);
  });
});
