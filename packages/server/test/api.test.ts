// The HTTP API and the node runtime in one process, standalone (DESIGN.md §8, kalamdb-facts.md "HTTP API"): a
// temp data_dir, root created at start, login → JWT → SQL with Bearer, Basic auth, the 401s (wrong password,
// forged, expired and tampered tokens, no header), the 400 for malformed JSON, the 413 for an oversized body, the
// healthcheck and cluster status, user isolation between two users, tokens surviving a restart (the persisted
// key), and that standalone mode never creates raft.db.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { SERVER_LIMITS, createApiServer, issueToken, parseConfig, startNode } from '../src/index.js';
import type { ApiServer, NodeConfig, RunningNode } from '../src/index.js';
import { basic, bearer, dropStaleConnections, freePort, request, rowsOf, sql } from './support/net.js';

const ROOT_PASSWORD = 'root-pass-1';
const MAX_BODY_BYTES = 4096;

let dir: string;
let config: NodeConfig;
let node: RunningNode | undefined;
let api: ApiServer | undefined;
let url: string;

async function start(): Promise<void> {
  node = await startNode(config);
  api = createApiServer(node, { version: 'test' });
  url = (await api.listen()).url;
}

async function stop(): Promise<void> {
  await api?.close();
  await node?.stop();
  api = undefined;
  node = undefined;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kalam-server-api-'));
  const port = await freePort();
  const text = [
    '[server]',
    `api_addr = "127.0.0.1:${port}"`,
    'data_dir = "data"',
    `max_body_bytes = ${MAX_BODY_BYTES}`,
    '[auth]',
    `root_password = "${ROOT_PASSWORD}"`,
  ].join('\n');
  config = parseConfig(text, { baseDir: dir, env: {} });
  await start();
});

after(async () => {
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

const root = (): string => basic('root', ROOT_PASSWORD);

async function login(username: string, password: string) {
  return request(url, '/v1/api/auth/login', { body: { username, password } });
}

test('the healthcheck answers without auth', async () => {
  const r = await request(url, '/v1/api/healthcheck');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { status: 'healthy', mode: 'standalone', node_id: 1, version: 'test' });
});

test('standalone creates data.db and jwt.secret (0600), never raft.db', () => {
  const dataDir = join(dir, 'data');
  assert.ok(existsSync(join(dataDir, 'data.db')));
  assert.equal(existsSync(join(dataDir, 'raft.db')), false);
  assert.equal(statSync(join(dataDir, 'jwt.secret')).mode & 0o777, 0o600);
});

test('root logs in; the token runs SQL; Basic auth works too', async () => {
  const r = await login('root', ROOT_PASSWORD);
  assert.equal(r.status, 200);
  assert.equal(r.body['token_type'], 'Bearer');
  assert.equal(r.body['expires_in'], 3600);
  assert.deepEqual(r.body['user'], { id: 'root', username: 'root', role: 'system' });
  const token = r.body['access_token'] as string;

  const ddl = await sql(
    url,
    bearer(token),
    'CREATE NAMESPACE app; CREATE TABLE app.notes (id BIGINT PRIMARY KEY, body TEXT); INSERT INTO app.notes (id, body) VALUES (1, $1)'.replace(
      '$1',
      "'hello'",
    ),
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  assert.equal(ddl.body['status'], 'success');
  assert.equal(typeof ddl.body['took'], 'number');

  const sel = await sql(url, root(), 'SELECT id, body FROM notes', { namespace_id: 'app' });
  assert.deepEqual(rowsOf(sel), [[1, 'hello']]);
  const results = sel.body['results'] as { schema: unknown; row_count: number }[];
  assert.deepEqual(results[0]?.schema, [
    { name: 'id', data_type: 'BigInt', index: 0 },
    { name: 'body', data_type: 'Text', index: 1 },
  ]);
  assert.equal(results[0]?.row_count, 1);

  const users = await sql(url, bearer(token), 'SELECT username, last_login_at FROM system.users');
  const rootRow = rowsOf(users).find((row) => row[0] === 'root');
  assert.equal(typeof rootRow?.[1], 'number', 'login is recorded');
});

test('wrong password, unknown user, missing header: 401 UNAUTHORIZED', async () => {
  for (const r of [
    await login('root', 'nope'),
    await login('ghost', 'nope'),
    await sql(url, basic('root', 'nope'), 'SELECT 1 FROM system.users'),
    await request(url, '/v1/api/sql', { body: { sql: 'SHOW NAMESPACES' } }),
    await request(url, '/v1/api/cluster/status'),
    await sql(url, 'Digest abc', 'SHOW NAMESPACES'),
  ]) {
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.equal((r.body['error'] as { code: string }).code, 'UNAUTHORIZED');
  }
});

test('forged, tampered and expired tokens are refused', async () => {
  const session = { userId: 'root', username: 'root', role: 'system' as const };
  const forged = await issueToken(new TextEncoder().encode('x'.repeat(32)), session, {
    ttlSeconds: 3600,
    nowMs: Date.now(),
  });
  const expired = await issueToken(node!.jwtKey, session, { ttlSeconds: 60, nowMs: Date.now() - 2 * 3600_000 });
  const good = (await login('root', ROOT_PASSWORD)).body['access_token'] as string;
  const [h, p, s] = good.split('.');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'alice' })).toString('base64url')}.${s}`;
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
  for (const token of [forged.access_token, expired.access_token, tampered, unsigned, 'not-a-jwt']) {
    const r = await sql(url, bearer(token), 'SHOW NAMESPACES');
    assert.equal(r.status, 401, `${token}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(r.body['results'], []);
  }
  assert.equal((await sql(url, bearer(good), 'SHOW NAMESPACES')).status, 200);
});

test('a token that passed once (and was remembered as verified) is refused once it expires', async () => {
  const session = { userId: 'root', username: 'root', role: 'system' as const };
  const short = await issueToken(node!.jwtKey, session, { ttlSeconds: 2, nowMs: Date.now() });
  assert.equal((await sql(url, bearer(short.access_token), 'SHOW NAMESPACES')).status, 200);
  assert.equal((await sql(url, bearer(short.access_token), 'SHOW NAMESPACES')).status, 200);
  const claims = JSON.parse(Buffer.from(short.access_token.split('.')[1]!, 'base64url').toString()) as { exp: number };
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, claims.exp * 1000 - Date.now()) + 100));
  const late = await sql(url, bearer(short.access_token), 'SHOW NAMESPACES');
  assert.equal(late.status, 401, JSON.stringify(late.body));
});

test('malformed JSON and bad shapes: 400 INVALID_INPUT', async () => {
  for (const body of ['{"sql": ', '[1,2]', '{"sql": 42}', '{"sql": "SHOW NAMESPACES", "params": 3}']) {
    const r = await request(url, '/v1/api/sql', { auth: root(), body });
    assert.equal(r.status, 400, body);
    assert.equal(r.body['status'], 'error');
    assert.equal((r.body['error'] as { code: string }).code, 'INVALID_INPUT');
  }
  const badSql = await sql(url, root(), 'SELEC nonsense');
  assert.equal(badSql.status, 400);
  assert.equal((badSql.body['error'] as { code: string }).code, 'INVALID_SQL');
});

test('a body over server.max_body_bytes: 413 INVALID_INPUT', async () => {
  const big = JSON.stringify({ sql: `SELECT '${'x'.repeat(MAX_BODY_BYTES)}' FROM system.users` });
  const r = await request(url, '/v1/api/sql', { auth: root(), body: big });
  assert.equal(r.status, 413);
  assert.equal((r.body['error'] as { code: string }).code, 'INVALID_INPUT');
  // The server still serves afterwards.
  assert.equal((await request(url, '/v1/api/healthcheck')).status, 200);
});

test('unknown routes 404, wrong methods 405', async () => {
  assert.equal((await request(url, '/v1/api/nope')).status, 404);
  assert.equal((await request(url, '/v1/api/sql')).status, 405);
  assert.equal((await request(url, '/v1/api/backup/snapshot', { body: {} })).status, 405);
});

test('cluster status in standalone mode', async () => {
  const r = await request(url, '/v1/api/cluster/status', { auth: root() });
  assert.equal(r.status, 200);
  assert.equal(r.body['mode'], 'standalone');
  const groups = r.body['groups'] as { name: string; leader: number }[];
  assert.equal(groups.length, 36);
  assert.ok(groups.every((g) => g.leader === 1));
});

test("a user's rows are invisible to another user", async () => {
  assert.equal((await sql(url, root(), "CREATE USER 'alice' WITH PASSWORD 'a-pass' ROLE user")).status, 200);
  assert.equal((await sql(url, root(), "CREATE USER 'bob' WITH PASSWORD 'b-pass' ROLE user")).status, 200);
  await sql(url, root(), 'CREATE TABLE IF NOT EXISTS app.todos (id BIGINT PRIMARY KEY, title TEXT)');
  const alice = bearer((await login('alice', 'a-pass')).body['access_token'] as string);
  assert.equal((await sql(url, alice, "INSERT INTO app.todos (id, title) VALUES (1, 'secret')")).status, 200);
  assert.deepEqual(rowsOf(await sql(url, alice, 'SELECT title FROM app.todos')), [['secret']]);
  assert.deepEqual(rowsOf(await sql(url, basic('bob', 'b-pass'), 'SELECT title FROM app.todos')), []);
  const denied = await sql(url, basic('bob', 'b-pass'), "CREATE USER 'eve' WITH PASSWORD 'e' ROLE dba");
  assert.equal(denied.status, 403);
});

test("a dropped user's token stops working", async () => {
  await sql(url, root(), "CREATE USER 'carol' WITH PASSWORD 'c-pass' ROLE user");
  const carol = bearer((await login('carol', 'c-pass')).body['access_token'] as string);
  assert.equal((await sql(url, carol, 'SHOW NAMESPACES')).status, 200);
  assert.equal((await sql(url, root(), "DROP USER 'carol'")).status, 200);
  assert.equal((await sql(url, carol, 'SHOW NAMESPACES')).status, 401);
});

test('after a restart the data and the tokens are still good', async () => {
  const token = bearer((await login('root', ROOT_PASSWORD)).body['access_token'] as string);
  await stop();
  await start();
  await dropStaleConnections(url);
  assert.deepEqual(rowsOf(await sql(url, token, 'SELECT body FROM app.notes')), [['hello']]);
});

/** Sends raw HTTP/1.1 requests on one socket; resolves each response's head when the body is complete. */
class RawConnection {
  private readonly socket: Socket;
  private buffer = '';
  private ended = false;
  private waiter: (() => void) | undefined;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiter?.();
    });
    this.socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
    this.socket.on('error', () => undefined);
  }

  /** The response's head, or 'closed' when the server closed the connection instead of answering. */
  async get(path: string, extraHeaders = ''): Promise<string> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extraHeaders}\r\n`);
    const until = Date.now() + 5_000;
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.buffer.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? '0');
        if (this.buffer.length >= end + 4 + length) {
          this.buffer = this.buffer.slice(end + 4 + length);
          return head;
        }
      }
      if (this.ended) return 'closed';
      assert.ok(Date.now() < until, 'no response within 5 s');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  get closed(): boolean {
    return this.ended;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

test('keep-alive: the server advertises a shorter idle timeout than it keeps, so a client never reuses a closing socket', async () => {
  const port = Number(new URL(url).port);
  const conn = new RawConnection(port);
  try {
    const first = await conn.get('/v1/api/healthcheck');
    assert.match(first, /^HTTP\/1\.1 200/);
    assert.match(first, /\r\nConnection: keep-alive\r\n/i);
    const advertised = Number(/\r\nKeep-Alive: timeout=(\d+)/i.exec(first)?.[1]);
    assert.equal(advertised * 1000, SERVER_LIMITS.keepAliveTimeoutMs);
    // A client whose idle timer fires late (undici's run on coarse ticks, later still on a busy event loop) still
    // finds the connection open well past the advertised time.
    await new Promise((resolve) => setTimeout(resolve, SERVER_LIMITS.keepAliveTimeoutMs + 3_000));
    assert.equal(conn.closed, false, 'the server closed the connection at the advertised time');
    assert.match(await conn.get('/v1/api/healthcheck'), /^HTTP\/1\.1 200/);
    // A client that asks to close is answered with close, and the socket ends.
    const last = await conn.get('/v1/api/healthcheck', 'Connection: close\r\n');
    assert.match(last, /\r\nConnection: close/i);
    assert.doesNotMatch(last, /Keep-Alive:/i);
  } finally {
    conn.destroy();
  }
});
