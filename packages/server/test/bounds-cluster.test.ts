// What this proves (issue [M6] §3): heavy requests do not cost a 3-node cluster its leaderships. Twelve SELECTs with
// a 20,000-term `WHERE id = 0 OR id = 1 OR …` (which once took the sum of the 36 groups' terms from 36 to 101: each
// cost about a second of CPU on the event loop that drives Raft before it was refused) are refused with 400
// LIMIT_EXCEEDED before any parse, while heavy-but-allowed requests run at the same time on every node — OR chains
// and IN lists near their bounds over a few thousand rows, grouping and sorting, INSERTs of 2,000 rows near
// statementTokensMax — and succeed. (Big entries are bulk-load-cluster.test.ts's subject.) Through all of it no election happens: the sum over groups of the highest term is unchanged.
// How: real `kalam serve` processes (support/nodes.ts), Bearer tokens (no password hashing per request), all requests
// at once; every process is reaped in t.after. The only time bounds are the harness's generous ones.
// Election timeouts of 1.5–2.5 s, not the default 300–500 ms: `make test` runs two files at once on two cores, and
// there the allowed requests' own apply turns (~240 ms) plus another cluster's CPU made ticks 380 ms late and cost
// three elections in one CI run in four. The bug this guards against held each node's loop for about a second per
// refused request, four per node — well past 2.5 s.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SQL_LIMITS } from '@kalam/sql';

import { basic, bearer, request, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';
import { driverReport, settledTermSum, termSum } from './support/terms.js';

const ROWS = 3_000;
const REFUSED_PER_NODE = 4;
const ALLOWED_PER_NODE = 8;

function orChain(terms: number, first = 0): string {
  return Array.from({ length: terms }, (_, i) => `id = ${first + i}`).join(' OR ');
}

/** The heavy-but-allowed requests, round-robin: each within every bound, each real work on the node. */
function allowed(i: number): { sql: string; status: number } {
  switch (i % 4) {
    case 0:
      return { sql: `SELECT id, v FROM app.t WHERE ${orChain(150, i)} ORDER BY v DESC, id`, status: 200 };
    case 1: {
      const list = Array.from({ length: SQL_LIMITS.inListItemsMax }, (_, k) => (k * 7 + i) % (2 * ROWS)).join(', ');
      return { sql: `SELECT COUNT(*) FROM app.t WHERE id IN (${list})`, status: 200 };
    }
    case 2:
      return {
        sql: "SELECT v, COUNT(*), MIN(id), MAX(id) FROM app.t WHERE v LIKE 'v%' GROUP BY v ORDER BY v",
        status: 200,
      };
    default: {
      const rows = Array.from({ length: 2_000 }, (_, k) => `(${100_000 + i * 2_000 + k}, 'w${k}')`).join(', ');
      return { sql: `INSERT INTO app.bulk (id, v) VALUES ${rows}`, status: 200 };
    }
  }
}

function code(r: JsonReply): string | undefined {
  return (r.body['error'] as { code?: string } | undefined)?.code;
}

test('heavy requests, refused and allowed, on every node of a 3-node cluster: no election', async (t) => {
  const nodes = await KalamNodes.start({ members: 3, electionTimeoutMs: { min: 1_500, max: 2_500 } });
  t.after(() => nodes.close());
  const root = basic('root', ROOT_PASSWORD);
  const login = await request(nodes.url(1), '/v1/api/auth/login', {
    body: { username: 'root', password: ROOT_PASSWORD },
  });
  const token = bearer(login.body['access_token'] as string);

  const ddl = await sql(
    nodes.url(1),
    token,
    'CREATE NAMESPACE app; CREATE SHARED TABLE app.t (id BIGINT PRIMARY KEY, v TEXT); ' +
      'CREATE SHARED TABLE app.bulk (id BIGINT PRIMARY KEY, v TEXT)',
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  for (let from = 0; from < ROWS; from += 1_000) {
    const rows = Array.from({ length: 1_000 }, (_, k) => `(${from + k}, 'v${(from + k) % 13}')`).join(', ');
    const r = await sql(nodes.url(1), token, `INSERT INTO app.t (id, v) VALUES ${rows}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const before = await settledTermSum(nodes, root);
  const transfersBefore = (await termSum(nodes, root)).transfers;

  const work: Promise<{ expected: number; sql: string; reply: JsonReply }>[] = [];
  for (const id of nodes.ids()) {
    for (let k = 0; k < REFUSED_PER_NODE; k++) {
      const text = `SELECT * FROM app.t WHERE ${orChain(20_000, k)}`;
      work.push(sql(nodes.url(id), token, text).then((reply) => ({ expected: 400, sql: 'OR × 20,000', reply })));
    }
    for (let k = 0; k < ALLOWED_PER_NODE; k++) {
      const { sql: text, status } = allowed(id * ALLOWED_PER_NODE + k);
      work.push(sql(nodes.url(id), token, text).then((reply) => ({ expected: status, sql: text.slice(0, 60), reply })));
    }
  }
  const results = await Promise.all(work);
  // Heartbeats of the last requests' moments have had time to be missed, if any were.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const after = await termSum(nodes, root);

  assert.equal(
    after.sum,
    before,
    `elections happened (term sum ${before} → ${after.sum}; balance transfers ${transfersBefore} → ${after.transfers}):\n${await driverReport(nodes, root)}`,
  );
  for (const { expected, sql: text, reply } of results) {
    assert.equal(reply.status, expected, `${text}: ${JSON.stringify(reply.body).slice(0, 300)}`);
    if (expected === 400) assert.equal(code(reply), 'LIMIT_EXCEEDED');
  }
  t.diagnostic(`driver timing after the load:\n${await driverReport(nodes, root)}`);
});
