// Cross-origin access for browser applications (cors.ts): off by default; with `[server] cors_origins` an allowed
// origin's preflight gets 204 with the API's methods and headers, its answers carry Access-Control-Allow-Origin and
// expose the shard-leader header, and any other origin gets no CORS header at all. Bad origins are config errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ConfigError, createApiServer, parseConfig, startNode } from '../src/index.js';
import type { ApiServer, RunningNode } from '../src/index.js';
import { freePort } from './support/net.js';

const ALLOWED = 'http://localhost:5173';
const ROOT_PASSWORD = 'root-pass-1';

interface Started {
  node: RunningNode;
  api: ApiServer;
  url: string;
  dir: string;
}

async function startWith(extra: string[]): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-server-cors-'));
  const port = await freePort();
  const text = ['[server]', `api_addr = "127.0.0.1:${port}"`, 'data_dir = "data"', ...extra, '[auth]'];
  text.push(`root_password = "${ROOT_PASSWORD}"`);
  const node = await startNode(parseConfig(text.join('\n'), { baseDir: dir, env: {} }));
  const api = createApiServer(node, { version: 'test' });
  const url = (await api.listen()).url;
  return { node, api, url, dir };
}

async function stop(s: Started | undefined): Promise<void> {
  if (s === undefined) return;
  await s.api.close();
  await s.node.stop();
  rmSync(s.dir, { recursive: true, force: true });
}

function preflight(url: string, origin: string): Promise<Response> {
  return fetch(`${url}/v1/api/sql`, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, content-type',
    },
    signal: AbortSignal.timeout(5_000),
  });
}

function sqlFrom(url: string, origin: string): Promise<Response> {
  return fetch(`${url}/v1/api/sql`, {
    method: 'POST',
    headers: {
      Origin: origin,
      'Content-Type': 'application/json',
      Authorization: `Basic ${Buffer.from(`root:${ROOT_PASSWORD}`).toString('base64')}`,
    },
    body: JSON.stringify({ sql: 'SELECT * FROM system.users' }),
    signal: AbortSignal.timeout(5_000),
  });
}

let on: Started | undefined;
let off: Started | undefined;

before(async () => {
  on = await startWith([`cors_origins = "${ALLOWED}, https://app.example.com"`]);
  off = await startWith([]);
});

after(async () => {
  await stop(on);
  await stop(off);
});

test('an allowed origin: the preflight is answered and the answer is readable by its page', async () => {
  const p = await preflight(on!.url, ALLOWED);
  assert.equal(p.status, 204);
  assert.equal(p.headers.get('access-control-allow-origin'), ALLOWED);
  assert.match(p.headers.get('access-control-allow-methods') ?? '', /POST/);
  assert.match(p.headers.get('access-control-allow-headers') ?? '', /Authorization/);
  const r = await sqlFrom(on!.url, ALLOWED);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), ALLOWED);
  assert.match(r.headers.get('access-control-expose-headers') ?? '', /X-Kalam-Shard-Leader/);
  assert.equal(r.headers.get('vary'), 'Origin');
  await r.text();
});

test('another origin gets no CORS header, and the preflight allows nothing', async () => {
  const p = await preflight(on!.url, 'http://evil.example');
  assert.equal(p.headers.get('access-control-allow-origin'), null);
  assert.notEqual(p.status, 204);
  await p.text();
  const r = await sqlFrom(on!.url, 'http://evil.example');
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  await r.text();
});

test('without cors_origins no origin is allowed', async () => {
  const p = await preflight(off!.url, ALLOWED);
  assert.equal(p.headers.get('access-control-allow-origin'), null);
  await p.text();
  const r = await sqlFrom(off!.url, ALLOWED);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  await r.text();
});

test('a cors_origins entry that is not an origin is a startup error naming the key', () => {
  for (const bad of ['localhost:5173', 'http://app.example.com/path', 'ftp://x']) {
    const text = ['[server]', 'data_dir = "d"', `cors_origins = "${bad}"`, '[auth]', 'root_password = "x"'].join('\n');
    assert.throws(
      () => parseConfig(text, { baseDir: tmpdir(), env: {} }),
      (err: unknown) => err instanceof ConfigError && /server\.cors_origins/.test(err.message),
      bad,
    );
  }
});
