// What this proves (issue [M6] §3): an ordinary bulk load does not cost a 3-node cluster its leaderships. One client
// loads 20,000 rows of 1 KB by 500-row INSERTs through one node, one INSERT after another, with default settings
// and no fault (the same load at 100,000 rows once caused 807 elections and CLUSTER_UNAVAILABLE): every INSERT is
// acknowledged, no election happens (the sum over groups of the highest term is unchanged), and then every node
// reads all 20,000 rows. bench/bulk-load runs the full 100,000 rows and reports the driver's tick lateness.
// How: real `kalam serve` processes (support/nodes.ts), a Bearer token; every process is reaped in t.after. The only
// time bounds are the harness's generous ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { basic, bearer, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';
import { driverReport, settledTermSum, termSum } from './support/terms.js';

const ROWS = 20_000;
const PER_INSERT = 500;
const VALUE = 'x'.repeat(1_000);

test('a bulk load of 20,000 rows of 1 KB by 500-row INSERTs: every INSERT acknowledged, no election', async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const root = basic('root', ROOT_PASSWORD);
  const setup = await sql(
    nodes.url(1),
    root,
    "CREATE NAMESPACE bench; CREATE USER TABLE bench.bulk (id BIGINT PRIMARY KEY, v TEXT); CREATE USER 'loader' WITH PASSWORD 'loader-pw' ROLE user",
  );
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const login = await request(nodes.url(1), '/v1/api/auth/login', {
    body: { username: 'loader', password: 'loader-pw' },
  });
  const loader = bearer(login.body['access_token'] as string);
  const before = await settledTermSum(nodes, root);
  const transfersBefore = (await termSum(nodes, root)).transfers;

  const failures: string[] = [];
  for (let from = 0; from < ROWS; from += PER_INSERT) {
    const rows = Array.from({ length: PER_INSERT }, (_, k) => `(${from + k}, '${VALUE}')`).join(', ');
    const r = await sql(nodes.url(1), loader, `INSERT INTO bench.bulk (id, v) VALUES ${rows}`);
    if (r.status !== 200) failures.push(`rows ${from}…: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  }
  const after = await termSum(nodes, root);
  const timing = await driverReport(nodes, root);

  assert.deepEqual(failures, [], 'every INSERT must be acknowledged');
  assert.equal(
    after.sum,
    before,
    `elections happened (term sum ${before} → ${after.sum}; balance transfers ${transfersBefore} → ${after.transfers}):\n${timing}`,
  );
  for (const id of nodes.ids()) {
    const count = rowsOf(await sql(nodes.url(id), loader, 'SELECT COUNT(*) FROM bench.bulk'));
    assert.deepEqual(count, [[ROWS]], `node ${id} reads every row`);
  }
  t.diagnostic(`driver timing after the load:\n${timing}`);
});
