/**
 * The test-only ack-without-commit planted bug (src/http.ts) that the drill tests use to prove their checks can
 * fail: with KALAM_ALLOW_PLANTED_BUGS=1 and KALAM_PLANTED_BUG=ack-without-commit, every 4th UPDATE of a drill
 * table is answered "1 row(s) updated" and never applied; with the bug named but not allowed, nothing changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basic, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);

/** Four UPDATEs, each answered with row_count 1; resolves with the value read back at the end. */
async function fourUpdates(env: Record<string, string>): Promise<unknown> {
  const nodes = await KalamNodes.start({ members: 0, env });
  try {
    const url = nodes.url(1);
    const setup = await sql(
      url,
      root,
      "CREATE NAMESPACE drill; CREATE SHARED TABLE drill.t (k TEXT PRIMARY KEY, v TEXT); INSERT INTO drill.t (k, v) VALUES ('a', 'init')",
    );
    assert.equal(setup.status, 200, JSON.stringify(setup.body));
    for (let i = 1; i <= 4; i++) {
      const reply = await sql(url, root, 'UPDATE drill.t SET v = $1 WHERE k = $2', { params: [`v${i}`, 'a'] });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal((reply.body['results'] as { row_count: number }[])[0]?.row_count, 1);
    }
    return rowsOf(await sql(url, root, "SELECT v FROM drill.t WHERE k = 'a'"))[0]?.[0];
  } finally {
    await nodes.close();
  }
}

test('allowed, the planted bug acknowledges the 4th UPDATE without applying it', async () => {
  assert.equal(await fourUpdates({ KALAM_ALLOW_PLANTED_BUGS: '1', KALAM_PLANTED_BUG: 'ack-without-commit' }), 'v3');
});

test('named but not allowed, the planted bug does nothing', async () => {
  assert.equal(await fourUpdates({ KALAM_PLANTED_BUG: 'ack-without-commit' }), 'v4');
});
