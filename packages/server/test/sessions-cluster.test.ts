// What this proves: exactly-once writes over HTTP (issue [M11] §1, README "Client sessions"). On a real 3-node
// cluster, the same `UPDATE … SET n = n + 1` (not idempotent) with the same client_session, delivered through the
// leader of the user's shard and then through a follower, and once more through a survivor after that leader is
// SIGKILLed, applies once: n went up by 1 on every node, every answer equals the first, the later ones replayed=true.
// Another user with the same client id has a session of their own; DDL, batches and bad fields are refused before
// anything is proposed. A standalone node behaves the same (same apply path), and with the planted bug
// ignore-client-sessions the retry applies twice — the check can fail. How: real `kalam serve` processes (support/
// nodes.ts), leaders read from cluster status, every wait bounded; the nodes are reaped by `close` on every path.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ShardRouter, groupName } from '@kalam/kalamdb';

import type { ClusterStatus } from '../src/index.js';
import { basic, eventually, request, rowsOf, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const alice = basic('alice', 'alice-pass');
const bob = basic('bob', 'bob-pass');
const aliceShard = groupName(new ShardRouter({ numUserShards: 32, numSharedShards: 1 }).groupForUser('alice'));

const SETUP =
  'CREATE NAMESPACE app; CREATE TABLE app.c (k BIGINT PRIMARY KEY, n BIGINT); ' +
  "CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user; CREATE USER 'bob' WITH PASSWORD 'bob-pass' ROLE user";
const BUMP = 'UPDATE app.c SET n = n + 1 WHERE k = 1';

interface Session {
  client_id: string;
  created_ms: number;
  seq: number;
  acked: number;
}

const session = (clientId: string, seq: number, acked = 0, createdMs = Date.now()): Session => ({
  client_id: clientId,
  created_ms: createdMs,
  seq,
  acked,
});

function ok(r: JsonReply): JsonReply {
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r;
}

function errorCode(r: JsonReply): string {
  return (r.body['error'] as { code: string } | undefined)?.code ?? `(no error: ${JSON.stringify(r.body)})`;
}

async function counter(url: string, auth: string): Promise<number> {
  const rows = rowsOf(ok(await sql(url, auth, 'SELECT n FROM app.c WHERE k = 1')));
  return rows[0]?.[0] as number;
}

async function leaderOf(url: string, group: string): Promise<number> {
  return eventually(20_000, `a leader of ${group}`, async () => {
    const status = (await request(url, '/v1/api/cluster/status', { auth: root })).body as unknown as ClusterStatus;
    return status.groups.find((g) => g.name === group)?.leader ?? undefined;
  });
}

test('a write delivered twice through different nodes applies once and answers the same', async (t) => {
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const urls = nodes.ids().map((id) => nodes.url(id));
  ok(await sql(urls[0]!, root, SETUP));
  ok(await sql(urls[0]!, alice, 'INSERT INTO app.c (k, n) VALUES (1, 0)'));
  ok(await sql(urls[0]!, bob, 'INSERT INTO app.c (k, n) VALUES (1, 0)'));

  const leader = await leaderOf(urls[0]!, aliceShard);
  const [follower, other] = nodes.ids().filter((id) => id !== leader) as [number, number];
  const cs = session('app-1', 1);
  const first = ok(await sql(nodes.url(leader), alice, BUMP, { client_session: cs }));
  assert.deepEqual(first.body['client_session'], { seq: 1, replayed: false });
  const again = ok(await sql(nodes.url(follower), alice, BUMP, { client_session: cs }));
  assert.deepEqual(again.body['client_session'], { seq: 1, replayed: true });
  assert.deepEqual(again.body['results'], first.body['results'], 'the remembered answer');
  for (const url of urls) assert.equal(await counter(url, alice), 1, `n on ${url}`);

  // Another user with the same client id and seq: their own session, their own write.
  const bobs = ok(await sql(nodes.url(follower), bob, BUMP, { client_session: cs }));
  assert.deepEqual(bobs.body['client_session'], { seq: 1, replayed: false });
  assert.equal(await counter(urls[0]!, bob), 1);
  assert.equal(await counter(urls[0]!, alice), 1);

  // A SELECT with a session is answered (nothing to dedupe); the next seq is a new write.
  ok(await sql(urls[0]!, alice, 'SELECT n FROM app.c', { client_session: session('app-1', 2, 1, cs.created_ms) }));
  ok(await sql(urls[0]!, alice, BUMP, { client_session: session('app-1', 2, 1, cs.created_ms) }));
  assert.equal(await counter(urls[0]!, alice), 2);
  const stale = await sql(urls[0]!, alice, BUMP, { client_session: session('app-1', 1, 0, cs.created_ms) });
  assert.equal(stale.status, 409);
  assert.equal(errorCode(stale), 'SESSION_STALE');

  // Refused at plan time, before anything is proposed.
  const ddl = await sql(urls[0]!, root, 'CREATE TABLE app.d (k BIGINT PRIMARY KEY)', { client_session: cs });
  assert.equal(ddl.status, 400);
  assert.equal(errorCode(ddl), 'SESSION_UNSUPPORTED');
  const batch = await sql(urls[0]!, alice, `${BUMP}; ${BUMP}`, { client_session: session('app-1', 3, 2) });
  assert.equal(errorCode(batch), 'SESSION_UNSUPPORTED');
  const future = await sql(urls[0]!, alice, BUMP, { client_session: session('f', 1, 0, Date.now() + 3_600_000) });
  assert.equal(future.status, 400);
  assert.equal(errorCode(future), 'INVALID_REQUEST');
  const ancient = await sql(urls[0]!, alice, BUMP, { client_session: session('a', 1, 0, Date.now() - 7_200_000) });
  assert.equal(ancient.status, 409);
  assert.equal(errorCode(ancient), 'SESSION_EXPIRED');
  const malformed = await sql(urls[0]!, alice, BUMP, { client_session: { ...cs, seq: 0 } });
  assert.equal(errorCode(malformed), 'INVALID_REQUEST');
  const tables = rowsOf(
    ok(await sql(urls[0]!, root, "SELECT table_name FROM system.tables WHERE namespace_id = 'app'")),
  );
  assert.deepEqual(tables, [['c']], 'the DDL was not applied');
  assert.equal(await counter(urls[0]!, alice), 2, 'nothing refused was applied');

  // The shard's leader dies after answering seq 3: the retry through a survivor is the remembered answer.
  const leaderNow = await leaderOf(nodes.url(other), aliceShard);
  const third = session('app-1', 3, 2, cs.created_ms);
  const before = ok(await sql(nodes.url(leaderNow), alice, BUMP, { client_session: third }));
  await nodes.kill(leaderNow, 'SIGKILL');
  const survivor = nodes.ids().find((id) => id !== leaderNow)!;
  const retried = await eventually(30_000, 'the retry answered by a survivor', async () => {
    const r = await sql(nodes.url(survivor), alice, BUMP, { client_session: third });
    return r.status === 200 ? r : undefined;
  });
  assert.deepEqual(retried.body['client_session'], { seq: 3, replayed: true });
  assert.deepEqual(retried.body['results'], before.body['results']);
  assert.equal(await counter(nodes.url(survivor), alice), 3, 'seq 3 applied once');
});

/** A standalone node: BUMP twice under one session; returns n and the two client_session answers. */
async function standaloneTwice(env: Record<string, string>): Promise<{ n: number; answers: unknown[] }> {
  const nodes = await KalamNodes.start({ members: 0, env });
  try {
    const url = nodes.url(nodes.ids()[0]!);
    ok(await sql(url, root, SETUP));
    ok(await sql(url, alice, 'INSERT INTO app.c (k, n) VALUES (1, 0)'));
    const cs = session('solo', 1);
    const answers: unknown[] = [];
    for (let i = 0; i < 2; i++)
      answers.push(ok(await sql(url, alice, BUMP, { client_session: cs })).body['client_session']);
    return { n: await counter(url, alice), answers };
  } finally {
    await nodes.close();
  }
}

test('standalone applies a retried write once; the planted bug ignore-client-sessions applies it twice', async () => {
  const fixed = await standaloneTwice({});
  assert.equal(fixed.n, 1);
  assert.deepEqual(fixed.answers, [
    { seq: 1, replayed: false },
    { seq: 1, replayed: true },
  ]);
  const planted = await standaloneTwice({ KALAM_ALLOW_PLANTED_BUGS: '1', KALAM_PLANTED_BUG: 'ignore-client-sessions' });
  assert.equal(planted.n, 2, 'the planted bug makes the retry apply again');
});
