// What this proves (issue 14 §1), without a server: the client's rules, each against a fake fetch that plays the
// nodes. Back-off stays in its bounds; every code the server can send maps to its error class (the codes are read
// from the server's sources, so a new one without a mapping fails here); the session's seq/acked bookkeeping; a
// write is retried under the SAME seq and client id after a lost answer, and a write without a session is not
// (OutcomeUnknownError) unless the connection was refused; SESSION_UNSUPPORTED resends once without a session;
// SESSION_EXPIRED rotates the client id (resend on a first attempt, OutcomeUnknownError after a lost one); reads fail
// over and mark the failed node down; the X-Kalam-Shard-Leader node is preferred; a password client signs in and
// signs in again on 401; a call that cannot succeed ends within its deadline.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  AuthError,
  ClientSession,
  KalamError,
  NotLeaderError,
  OutcomeUnknownError,
  ResumeUnavailableError,
  SERVER_CODES,
  SessionError,
  SessionExpiredError,
  SqlError,
  UnavailableError,
  backoffDelayMs,
  createClient,
  errorFromServer,
  isValidClientId,
  newClientId,
} from '../src/index.js';

/** packages/client/dist/test → the repository root. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// A fake cluster behind fetch.

type Sent = { node: string; path: string; body: Record<string, unknown>; auth: string | null };
type Reply =
  | { status?: number; body: unknown; headers?: Record<string, string> }
  | 'lost' // the request went out, no answer came (a timeout, a reset)
  | 'refused'; // the connection was refused: nothing was sent

function fakeFetch(reply: (req: Sent, index: number) => Reply): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const fn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const headers = new Headers(init?.headers);
    const req: Sent = {
      node: `${url.protocol}//${url.host}`,
      path: url.pathname,
      body: JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as Record<string, unknown>,
      auth: headers.get('authorization'),
    };
    sent.push(req);
    const r = reply(req, sent.length - 1);
    if (r === 'lost') return Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } }));
    if (r === 'refused') return Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }));
    return Promise.resolve(
      new Response(JSON.stringify(r.body), {
        status: r.status ?? 200,
        headers: { 'Content-Type': 'application/json', ...(r.headers ?? {}) },
      }),
    );
  };
  return { fetch: fn, sent };
}

const NODES = ['http://n1:1', 'http://n2:2', 'http://n3:3'];
const OK = { status: 'success', results: [{ schema: [], rows: [], row_count: 1, message: '1 row(s) inserted' }] };
const error = (status: number, code: string, details: unknown = null): Reply => ({
  status,
  body: { status: 'error', results: [], error: { code, message: `${code} from the fake`, details } },
});
/** Fast retries: these tests are about decisions, not waiting. */
const FAST = { backoffBaseMs: 1, backoffMaxMs: 4, callDeadlineMs: 2_000 };

function stampOf(req: Sent): { client_id: string; created_ms: number; seq: number; acked: number } | undefined {
  return req.body['client_session'] as
    { client_id: string; created_ms: number; seq: number; acked: number } | undefined;
}

// ---------------------------------------------------------------------------------------------------------------

test('back-off: retry n waits within [cap/2, cap], cap = min(max, base·2^n), for any jitter', () => {
  const opts = { backoffBaseMs: 50, backoffMaxMs: 2_000 };
  for (let n = 0; n < 40; n++) {
    const cap = Math.min(2_000, 50 * 2 ** n);
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const d = backoffDelayMs(n, opts, () => r);
      assert.ok(d >= cap / 2 && d <= cap, `retry ${n}, jitter ${r}: ${d} not in [${cap / 2}, ${cap}]`);
    }
  }
  assert.equal(
    backoffDelayMs(0, opts, () => 0),
    25,
  );
  assert.equal(backoffDelayMs(1_000, opts, () => 0.999999) <= 2_000, true);
  const spread = new Set(Array.from({ length: 20 }, () => backoffDelayMs(3, opts)));
  assert.ok(spread.size > 1, 'Math.random jitters');
});

test('errors: every code the server sends maps to its class; unknown codes to KalamError', () => {
  // The engine's codes (KalamErrorCode) and the /v1/ws protocol's (ProtocolError in server/src/ws), from the sources.
  const engine = readFileSync(`${ROOT}packages/kalamdb/src/sql/errors.ts`, 'utf8');
  const union = engine.slice(engine.indexOf('export type KalamErrorCode'), engine.indexOf('const HTTP_STATUS'));
  const codes = new Set([...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!));
  const wsDir = `${ROOT}packages/server/src/ws/`;
  for (const file of readdirSync(wsDir)) {
    const text = readFileSync(wsDir + file, 'utf8');
    for (const m of text.matchAll(/ProtocolError\(\s*'([A-Z_]+)'/g)) codes.add(m[1]!);
  }
  const http = readFileSync(`${ROOT}packages/server/src/http.ts`, 'utf8');
  for (const m of http.matchAll(/RouteError\(\d+, '([A-Z_]+)'/g)) codes.add(m[1]!);
  assert.ok(codes.size >= 30, `found the server's codes (${codes.size})`);
  const missing = [...codes].filter((c) => !Object.hasOwn(SERVER_CODES, c));
  assert.deepEqual(missing, [], 'every server code has a mapping in SERVER_CODES');

  const e = errorFromServer('TABLE_NOT_FOUND', 'no table', { httpStatus: 404, details: { x: 1 }, node: 'http://n1:1' });
  assert.ok(e instanceof SqlError && e instanceof KalamError && e instanceof Error);
  assert.deepEqual(
    [e.code, e.httpStatus, e.details, e.node, e.name],
    ['TABLE_NOT_FOUND', 404, { x: 1 }, 'http://n1:1', 'SqlError'],
  );
  assert.ok(errorFromServer('NOT_LEADER', '') instanceof NotLeaderError);
  assert.ok(errorFromServer('NOT_LEADER', '') instanceof UnavailableError);
  assert.ok(errorFromServer('LEADER_NOT_AVAILABLE', '') instanceof UnavailableError);
  assert.ok(errorFromServer('UNAUTHORIZED', '') instanceof AuthError);
  assert.ok(errorFromServer('PERMISSION_DENIED', '') instanceof AuthError);
  assert.ok(errorFromServer('RESUME_UNAVAILABLE', '') instanceof ResumeUnavailableError);
  assert.ok(errorFromServer('SESSION_EXPIRED', '') instanceof SessionExpiredError);
  assert.ok(errorFromServer('SESSION_STALE', '') instanceof SessionError);
  const unknown = errorFromServer('SOMETHING_NEW', 'from a newer server');
  assert.equal(unknown.constructor, KalamError);
  assert.equal(unknown.code, 'SOMETHING_NEW');
});

test('session bookkeeping: seq one per write, acked = lowest outstanding − 1, ids [A-Za-z0-9_-]{1,64}', () => {
  const s = new ClientSession();
  assert.ok(isValidClientId(s.clientId) && s.clientId.length <= 64, s.clientId);
  assert.notEqual(newClientId(), newClientId());
  assert.equal(isValidClientId('a b'), false);
  assert.equal(isValidClientId('x'.repeat(65)), false);
  assert.throws(() => new ClientSession('bad id!'), TypeError);
  assert.equal(s.acked(), 0);
  const [a, b, c] = [s.begin(), s.begin(), s.begin()];
  assert.deepEqual([a, b, c], [1, 2, 3]);
  assert.equal(s.acked(), 0, 'nothing answered yet');
  s.finish(2);
  assert.equal(s.acked(), 0, '1 is still outstanding');
  s.finish(1);
  assert.equal(s.acked(), 2);
  assert.deepEqual(s.stamp(3), { client_id: s.clientId, created_ms: s.createdMs, seq: 3, acked: 2 });
  s.finish(3);
  assert.equal(s.acked(), 3);
  assert.equal(s.begin(), 4);
  assert.equal(s.acked(), 3);
});

test('a session write whose answer is lost is retried on the next node with the same seq; acked moves on', async () => {
  const { fetch, sent } = fakeFetch((req, i) =>
    i === 0 ? 'lost' : { body: { ...OK, client_session: { seq: stampOf(req)?.seq, replayed: i === 1 } } },
  );
  const db = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch });
  const first = await db.execute('INSERT INTO app.t (id) VALUES ($1)', [1]);
  assert.equal(first.replayed, true);
  assert.equal(first.rowCount, 1);
  assert.equal(sent.length, 2);
  const [s0, s1] = [stampOf(sent[0]!)!, stampOf(sent[1]!)!];
  assert.notEqual(sent[0]!.node, sent[1]!.node, 'the retry went to another node');
  assert.deepEqual(s1, s0, 'the same client id, created_ms, seq and acked on the retry');
  assert.deepEqual([s0.seq, s0.acked], [1, 0]);
  assert.deepEqual(sent[1]!.body['params'], [1]);
  assert.equal(sent[1]!.auth, 'Bearer t');
  await db.execute('INSERT INTO app.t (id) VALUES (2)');
  const s2 = stampOf(sent[2]!)!;
  assert.deepEqual([s2.client_id, s2.seq, s2.acked], [s0.client_id, 2, 1], 'the next write: seq 2, seq 1 acked');
  assert.equal(db.nodes().nodes.find((n) => n.url === sent[0]!.node)?.up, false, 'the node that lost it is down');
  await db.close();
});

test('without a session: a lost answer is OutcomeUnknownError (no retry); a refused connection is retried', async () => {
  const lost = fakeFetch(() => 'lost');
  const plain = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: lost.fetch, sessions: false });
  await assert.rejects(plain.execute('UPDATE app.t SET v = 1'), OutcomeUnknownError);
  assert.equal(lost.sent.length, 1, 'not retried');
  assert.equal(lost.sent[0]!.body['client_session'], undefined);

  const refused = fakeFetch((_req, i) => (i === 0 ? 'refused' : { body: OK }));
  const again = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: refused.fetch, sessions: false });
  assert.equal((await again.execute('UPDATE app.t SET v = 1')).rowCount, 1);
  assert.equal(refused.sent.length, 2);

  // A Raft timeout answered as 503 with outcomeUnknown may have applied it; a 503 without it ran nothing.
  const ambiguous = fakeFetch(() => error(503, 'CLUSTER_UNAVAILABLE', { outcomeUnknown: true }));
  const c3 = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: ambiguous.fetch, sessions: false });
  await assert.rejects(c3.execute('UPDATE app.t SET v = 1'), (e: unknown) => {
    assert.ok(e instanceof OutcomeUnknownError);
    assert.equal((e.cause as KalamError).code, 'CLUSTER_UNAVAILABLE');
    return true;
  });
  const electing = fakeFetch((_r, i) =>
    i < 2 ? error(503, 'LEADER_NOT_AVAILABLE', { outcomeUnknown: false }) : { body: OK },
  );
  const c4 = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: electing.fetch, sessions: false });
  assert.equal((await c4.execute('UPDATE app.t SET v = 1')).rowCount, 1);
  assert.equal(electing.sent.length, 3);
  await Promise.all([plain.close(), again.close(), c3.close(), c4.close()]);
});

test('SESSION_UNSUPPORTED: resent once without a session; a lost answer of that resend is OutcomeUnknownError', async () => {
  const { fetch, sent } = fakeFetch((req) =>
    stampOf(req) !== undefined ? error(400, 'SESSION_UNSUPPORTED') : { body: OK },
  );
  const db = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch });
  assert.equal((await db.execute('CREATE TABLE app.x (id BIGINT PRIMARY KEY)')).rowCount, 1);
  assert.equal(sent.length, 2);
  assert.ok(stampOf(sent[0]!) !== undefined && stampOf(sent[1]!) === undefined);
  assert.equal(db.sessionInfo().inFlight, 0, 'its seq is finished');

  const lossy = fakeFetch((req) => (stampOf(req) !== undefined ? error(400, 'SESSION_UNSUPPORTED') : 'lost'));
  const db2 = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: lossy.fetch });
  await assert.rejects(db2.execute('CREATE TABLE app.y (id BIGINT PRIMARY KEY)'), OutcomeUnknownError);
  assert.equal(lossy.sent.length, 2, 'one session attempt, one plain attempt, no retry of the plain one');
  await Promise.all([db.close(), db2.close()]);
});

test('SESSION_EXPIRED: a first attempt is resent under a new client id; after a lost attempt it is OutcomeUnknownError', async () => {
  const expiredOnce = fakeFetch((_req, i) => (i === 0 ? error(409, 'SESSION_EXPIRED') : { body: OK }));
  const db = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: expiredOnce.fetch });
  const before = db.sessionInfo().clientId;
  assert.equal((await db.execute('INSERT INTO app.t (id) VALUES (1)')).rowCount, 1);
  const [a, b] = [stampOf(expiredOnce.sent[0]!)!, stampOf(expiredOnce.sent[1]!)!];
  assert.equal(a.client_id, before);
  assert.notEqual(b.client_id, a.client_id, 'rotated');
  assert.equal(b.seq, 1, 'a new session numbers from 1');
  assert.equal(db.sessionInfo().clientId, b.client_id);

  const lostThenExpired = fakeFetch((_req, i) => (i === 0 ? 'lost' : error(409, 'SESSION_EXPIRED')));
  const db2 = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: lostThenExpired.fetch });
  await assert.rejects(db2.execute('INSERT INTO app.t (id) VALUES (1)'), (e: unknown) => {
    assert.ok(e instanceof OutcomeUnknownError, String(e));
    assert.ok(e.cause instanceof SessionExpiredError);
    return true;
  });
  assert.equal(lostThenExpired.sent.length, 2);

  const stale = fakeFetch(() => error(409, 'SESSION_STALE'));
  const db3 = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch: stale.fetch });
  await assert.rejects(db3.execute('INSERT INTO app.t (id) VALUES (1)'), (e: unknown) => {
    assert.ok(e instanceof SessionError && e.code === 'SESSION_STALE' && e.httpStatus === 409);
    return true;
  });
  await Promise.all([db.close(), db2.close(), db3.close()]);
});

test('SESSION_WINDOW_FULL is waited out and retried with the same seq', async () => {
  const { fetch, sent } = fakeFetch((_req, i) => (i < 2 ? error(429, 'SESSION_WINDOW_FULL') : { body: OK }));
  const db = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch });
  await db.execute('INSERT INTO app.t (id) VALUES (1)');
  assert.equal(sent.length, 3);
  assert.deepEqual(new Set(sent.map((r) => stampOf(r)?.seq)), new Set([1]));
  await db.close();
});

test('reads fail over, prefer the shard leader the server names, and map rows onto the schema', async () => {
  const result = {
    status: 'success',
    results: [
      {
        schema: [
          { name: 'id', data_type: 'BIGINT', index: 0 },
          { name: 'label', data_type: 'TEXT', index: 1 },
        ],
        rows: [
          [1, 'a'],
          [2, 'b'],
        ],
        row_count: 2,
      },
    ],
  };
  const { fetch, sent } = fakeFetch((req) =>
    req.node === 'http://n1:1' ? 'lost' : { body: result, headers: { 'X-Kalam-Shard-Leader': 'http://n3:3/' } },
  );
  const db = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch });
  const r = await db.query<{ id: number; label: string }>('SELECT id, label FROM app.t WHERE id > $1', [0]);
  assert.deepEqual(r.rows, [
    { id: 1, label: 'a' },
    { id: 2, label: 'b' },
  ]);
  assert.deepEqual(r.schema, [
    { name: 'id', data_type: 'BIGINT' },
    { name: 'label', data_type: 'TEXT' },
  ]);
  assert.equal(r.rowCount, 2);
  assert.deepEqual(
    sent.map((s) => s.node),
    ['http://n1:1', 'http://n2:2'],
  );
  await db.query('SELECT 1');
  assert.equal(sent[2]!.node, 'http://n3:3', 'the next call goes to the shard leader the header named');
  assert.equal(db.nodes().preferred, 'http://n3:3');
  const down = db
    .nodes()
    .nodes.filter((n) => !n.up)
    .map((n) => n.url);
  assert.deepEqual(down, ['http://n1:1']);
  await db.close();
});

test('a statement error is raised at once with the server code and status; nothing is retried', async () => {
  const { fetch, sent } = fakeFetch(() => error(404, 'TABLE_NOT_FOUND'));
  const db = createClient({ nodes: NODES, token: 't' }, { ...FAST, fetch });
  await assert.rejects(db.query('SELECT * FROM app.nope'), (e: unknown) => {
    assert.ok(e instanceof SqlError);
    assert.deepEqual([e.code, e.httpStatus, e.node], ['TABLE_NOT_FOUND', 404, 'http://n1:1']);
    return true;
  });
  assert.equal(sent.length, 1);
  await db.close();
});

test('every node down: the call fails with UnavailableError within its deadline', async () => {
  const { fetch, sent } = fakeFetch(() => 'lost');
  const db = createClient(
    { nodes: NODES, token: 't' },
    { backoffBaseMs: 5, backoffMaxMs: 40, callDeadlineMs: 400, fetch },
  );
  const started = Date.now();
  await assert.rejects(db.query('SELECT 1'), (e: unknown) => {
    assert.ok(e instanceof UnavailableError && e.code === 'CONNECTION_FAILED', String(e));
    return true;
  });
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 1_000, `ended after ${elapsed} ms (deadline 400)`);
  assert.ok(sent.length >= 3, 'every node was tried');
  // A session write in the same place may have been applied by one of those attempts: outcome unknown.
  await assert.rejects(db.execute('INSERT INTO app.t (id) VALUES (1)', [], { deadlineMs: 200 }), OutcomeUnknownError);
  await db.close();
});

test('a password client signs in, sends the token, and signs in again when a node answers 401', async () => {
  let tokens = 0;
  const { fetch, sent } = fakeFetch((req) => {
    if (req.path === '/v1/api/auth/login') {
      assert.deepEqual(req.body, { username: 'alice', password: 'pw' });
      return { body: { access_token: `tok${++tokens}`, token_type: 'Bearer', expires_in: 3600 } };
    }
    return req.auth === 'Bearer tok1' ? error(401, 'UNAUTHORIZED') : { body: OK };
  });
  const db = createClient({ nodes: NODES, user: 'alice', password: 'pw' }, { ...FAST, fetch });
  await db.query('SELECT 1');
  assert.deepEqual(
    sent.map((s) => [s.path, s.auth]),
    [
      ['/v1/api/auth/login', null],
      ['/v1/api/sql', 'Bearer tok1'],
      ['/v1/api/auth/login', null],
      ['/v1/api/sql', 'Bearer tok2'],
    ],
  );
  // A refused password is an AuthError, not retried.
  const bad = fakeFetch(() => error(401, 'UNAUTHORIZED'));
  const c2 = createClient({ nodes: NODES, user: 'alice', password: 'no' }, { ...FAST, fetch: bad.fetch });
  await assert.rejects(c2.query('SELECT 1'), AuthError);
  assert.equal(bad.sent.length, 1);
  await Promise.all([db.close(), c2.close()]);
});

test('close(): calls in flight end with ClientClosedError and later calls are refused', async () => {
  const { fetch } = fakeFetch(() => 'lost');
  const db = createClient({ nodes: NODES, token: 't' }, { backoffBaseMs: 200, backoffMaxMs: 200, fetch });
  const pending = db.query('SELECT 1');
  await new Promise((r) => setTimeout(r, 20));
  await db.close();
  await assert.rejects(pending, (e: unknown) => e instanceof KalamError && e.code === 'CLIENT_CLOSED');
  await assert.rejects(db.query('SELECT 1'), (e: unknown) => e instanceof KalamError && e.code === 'CLIENT_CLOSED');
});

test('a password client renews its token before it expires (half-way through a short lifetime)', async () => {
  let tokens = 0;
  const { fetch, sent } = fakeFetch((req) =>
    req.path === '/v1/api/auth/login'
      ? { body: { access_token: `tok${++tokens}`, token_type: 'Bearer', expires_in: 0.2 } }
      : { body: OK },
  );
  const db = createClient({ nodes: NODES, user: 'alice', password: 'pw' }, { ...FAST, fetch });
  await db.query('SELECT 1');
  await db.query('SELECT 1');
  await new Promise((r) => setTimeout(r, 150)); // past half of the 200 ms lifetime
  await db.query('SELECT 1');
  assert.deepEqual(
    sent.map((s) => s.auth ?? s.path),
    ['/v1/api/auth/login', 'Bearer tok1', 'Bearer tok1', '/v1/api/auth/login', 'Bearer tok2'],
  );
  await db.close();
});
