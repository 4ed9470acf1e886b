// What this proves (issue M6 §3.1, adversaries.md §2 "CPU-heavy authentication"): password guessing costs the node a
// bounded amount of scrypt and does not lock anyone else out.
// - One address that sent SERVER_LIMITS.loginAttemptsPerAddressMax wrong passwords is refused with 429
//   RATE_LIMIT_EXCEEDED and a Retry-After header — on Basic auth and on POST /v1/api/auth/login — without one more
//   scrypt computation; a correct password from another address still succeeds, and a token still works from the
//   refused address itself.
// - One user name guessed from many addresses (loginAttemptsPerUserMax wrong passwords) is refused from any address,
//   even with its right password, without scrypt; another user from the same address still succeeds.
// - Concurrent guesses from one address are cut at the address's budget before scrypt runs, not after.
// - A client that sends valid Basic credentials with every request pays scrypt once; a changed password is not
//   remembered (the old one is refused, the new one accepted).
// How: one standalone node in this process; requests leave from chosen loopback source addresses (127.0.x.y, all
// routed to lo on Linux); scrypt work is read from the gate's counter (scryptStats), never from timing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { scryptStats } from '@kalam/kalamdb';

import { SERVER_LIMITS, createApiServer, parseConfig, startNode } from '../src/index.js';
import type { ApiServer, RunningNode } from '../src/index.js';
import { basic, bearer, freePort, sql } from './support/net.js';

const ROOT_PASSWORD = 'root-pass-throttle';
const PER_ADDRESS = SERVER_LIMITS.loginAttemptsPerAddressMax;
const PER_USER = SERVER_LIMITS.loginAttemptsPerUserMax;

let dir: string;
let node: RunningNode | undefined;
let api: ApiServer | undefined;
let port: number;
let url: string;

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly retryAfter: string | undefined;
}

/** POST `path` from the loopback source address `from`. */
function post(from: string, path: string, opts: { auth?: string; body: unknown }): Promise<Reply> {
  const text = JSON.stringify(opts.body);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  };
  if (opts.auth !== undefined) headers['Authorization'] = opts.auth;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', localAddress: from, headers, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const retry = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
            retryAfter: typeof retry === 'string' ? retry : undefined,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${path} from ${from} timed out`)));
    req.on('error', reject);
    req.end(text);
  });
}

const sqlFrom = (from: string, auth: string, text = 'SHOW NAMESPACES'): Promise<Reply> =>
  post(from, '/v1/api/sql', { auth, body: { sql: text } });
const loginFrom = (from: string, username: string, password: string): Promise<Reply> =>
  post(from, '/v1/api/auth/login', { body: { username, password } });

function codeOf(r: Reply): string | undefined {
  return (r.body['error'] as { code?: string } | undefined)?.code;
}

function assertThrottled(r: Reply, what: string): void {
  assert.equal(r.status, 429, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal(codeOf(r), 'RATE_LIMIT_EXCEEDED', what);
  assert.ok(Number(r.retryAfter) >= 1, `${what}: Retry-After ${String(r.retryAfter)}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kalam-auth-throttle-'));
  port = await freePort();
  const text = ['[server]', `api_addr = "127.0.0.1:${port}"`, 'data_dir = "data"', '[auth]'];
  text.push(`root_password = "${ROOT_PASSWORD}"`);
  node = await startNode(parseConfig(text.join('\n'), { baseDir: dir, env: {} }));
  api = createApiServer(node, { version: 'test' });
  url = (await api.listen()).url;
  for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) {
    const r = await sql(
      url,
      basic('root', ROOT_PASSWORD),
      `CREATE USER '${name}' WITH PASSWORD '${name}-pass' ROLE user`,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
});

after(async () => {
  await api?.close();
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('an address out of attempts gets 429 without scrypt; other addresses and tokens are unaffected', async () => {
  const attacker = '127.0.0.2';
  const token = (await loginFrom(attacker, 'bob', 'bob-pass')).body['access_token'] as string;
  assert.equal(typeof token, 'string');
  for (let i = 0; i < PER_ADDRESS; i++) {
    const r = await sqlFrom(attacker, basic('alice', `guess-${i}`));
    assert.equal(r.status, 401, `guess ${i}: ${JSON.stringify(r.body)}`);
  }
  const before = scryptStats().computed;
  assertThrottled(await sqlFrom(attacker, basic('alice', 'guess-x')), 'one more guess');
  assertThrottled(await sqlFrom(attacker, basic('bob', 'bob-pass')), 'even a right password from that address');
  assertThrottled(await loginFrom(attacker, 'bob', 'bob-pass'), 'login from that address');
  assert.equal(scryptStats().computed, before, 'a refused attempt computes no scrypt');
  assert.equal((await sqlFrom(attacker, bearer(token))).status, 200, 'a token works from the refused address');
  assert.equal(scryptStats().computed, before, 'a token costs no scrypt');
  assert.equal((await sqlFrom('127.0.0.3', basic('alice', 'alice-pass'))).status, 200, 'another address logs in');
});

test('a user name guessed from many addresses gets 429 everywhere without scrypt; other users are unaffected', async () => {
  for (let i = 0; i < PER_USER; i++) {
    const r = await loginFrom(`127.0.1.${i + 1}`, 'carol', `guess-${i}`);
    assert.equal(r.status, 401, `guess ${i}: ${JSON.stringify(r.body)}`);
  }
  const fresh = '127.0.2.1';
  const before = scryptStats().computed;
  assertThrottled(await loginFrom(fresh, 'carol', 'carol-pass'), 'carol, right password, new address');
  assertThrottled(await sqlFrom(fresh, basic('carol', 'carol-pass')), 'carol over Basic');
  assert.equal(scryptStats().computed, before, 'a refused attempt computes no scrypt');
  assert.equal((await loginFrom(fresh, 'dave', 'dave-pass')).status, 200, 'another user from the same address');
});

test('concurrent guesses from one address are cut at its budget before scrypt runs', async () => {
  // The first unknown name also computes the dummy hash unknown names are checked against: do that one first.
  assert.equal((await loginFrom('127.0.3.2', 'nobody', 'x')).status, 401);
  const before = scryptStats().computed;
  const guesses = 4 * PER_ADDRESS;
  const replies = await Promise.all(
    Array.from({ length: guesses }, (_, i) => sqlFrom('127.0.3.1', basic(`nobody-${i % 3}`, `guess-${i}`))),
  );
  const refused = replies.filter((r) => r.status === 429).length;
  const unauthorized = replies.filter((r) => r.status === 401).length;
  assert.equal(refused + unauthorized, guesses, JSON.stringify(replies.map((r) => r.status)));
  assert.ok(unauthorized <= PER_ADDRESS, `at most ${PER_ADDRESS} checked, saw ${unauthorized}`);
  assert.ok(scryptStats().computed - before <= PER_ADDRESS, 'scrypt ran at most once per allowed attempt');
});

test('valid Basic credentials cost scrypt once; a changed password is not remembered', async () => {
  const client = '127.0.4.1';
  const erin = basic('erin', 'erin-pass');
  assert.equal((await sqlFrom(client, erin)).status, 200);
  const before = scryptStats().computed;
  for (let i = 0; i < 5; i++) assert.equal((await sqlFrom(client, erin)).status, 200);
  assert.equal(scryptStats().computed, before, 'no scrypt for credentials that matched a moment ago');

  const changed = await sqlFrom(client, erin, "ALTER USER 'erin' SET PASSWORD 'erin-new'");
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  const old = await sqlFrom(client, erin);
  assert.equal(old.status, 401, `the old password after the change: ${JSON.stringify(old.body)}`);
  assert.equal((await sqlFrom(client, basic('erin', 'erin-new'))).status, 200, 'the new password works');
});

test('a burst of requests with the same valid credentials is never throttled: one scrypt, every request answered', async () => {
  // An application's connection pool opens many connections at once with one user's Basic credentials: requests
  // that arrive while the check runs share it, and later bursts match the remembered password without scrypt.
  const client = '127.0.5.1';
  const dave = basic('dave', 'dave-pass');
  const before = scryptStats().computed;
  for (let burst = 0; burst < 3; burst++) {
    const replies = await Promise.all(Array.from({ length: 4 * PER_ADDRESS }, () => sqlFrom(client, dave)));
    const statuses = replies.map((r) => r.status);
    assert.ok(
      statuses.every((s) => s === 200),
      `burst ${burst}: ${JSON.stringify(statuses)}`,
    );
  }
  assert.ok(scryptStats().computed - before <= 1, 'scrypt ran at most once for the three bursts');
  // Guesses are still cut at the address's budget (the test above), and a wrong password is not a remembered one.
  const wrong = await Promise.all(Array.from({ length: 3 }, () => sqlFrom(client, basic('dave', 'not-it'))));
  assert.ok(
    wrong.every((r) => r.status === 401),
    JSON.stringify(wrong.map((r) => r.status)),
  );
});
