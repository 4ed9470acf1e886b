// The console's files and the overview endpoint (console.ts, overview.ts). serveConsole over a plain HTTP server and
// a made-up dist/: index.html and /console/ with the strict CSP and no-cache; hashed assets with their content types
// and a year's immutable cache; an unknown asset, a path with `..` or an encoded slash, and a file outside assets/
// all 404; a POST 405; no build at all 503 with a page naming the build command. Then a standalone node: /console
// serves the real build (when built) and the assets it names; GET /v1/api/cluster/overview lists the node, reachable,
// with its 36 groups, folds them (each led by it, no lag), and needs auth like cluster/status.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { serveConsole } from '../src/console.js';
import { createApiServer, parseConfig, startNode } from '../src/index.js';
import type { ApiServer, RunningNode } from '../src/index.js';
import { basic, freePort, request } from './support/net.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A raw GET (or another method): node:http sends the path as given, `..` and all, where fetch would normalise it. */
function raw(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

async function serve(dist: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    void serveConsole(req, res, (req.url ?? '/').split('?', 1)[0] ?? '/', dist);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

let dir: string;
const servers: Server[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kalam-console-'));
  mkdirSync(join(dir, 'dist', 'assets'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(dir, 'dist', 'assets', 'app-ABC123.js'), 'console.log(1)');
  writeFileSync(join(dir, 'dist', 'assets', 'app-ABC123.css'), 'body{}');
  writeFileSync(join(dir, 'dist', 'secret.js'), 'not an asset');
});

after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('index.html: strict CSP, revalidated; hashed assets: typed, cached for good', async () => {
  const { server, port } = await serve(join(dir, 'dist'));
  servers.push(server);
  for (const path of ['/console', '/console/', '/console/index.html']) {
    const r = await raw(port, path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-cache');
    const csp = String(r.headers['content-security-policy']);
    for (const part of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"]) {
      assert.ok(csp.includes(part), `${path}: CSP ${csp} lacks ${part}`);
    }
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.body, '<!doctype html><title>t</title>');
  }
  const js = await raw(port, '/console/assets/app-ABC123.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.body, 'console.log(1)');
  const css = await raw(port, '/console/assets/app-ABC123.css');
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  const head = await raw(port, '/console/assets/app-ABC123.js', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});

test('unknown files, paths out of assets/ and other methods are refused', async () => {
  const { server, port } = await serve(join(dir, 'dist'));
  servers.push(server);
  for (const path of [
    '/console/assets/app-OTHER.js',
    '/console/secret.js',
    '/console/assets/../secret.js',
    '/console/assets/..%2Fsecret.js',
    '/console/assets/%2e%2e/secret.js',
    '/console/assets/sub/app-ABC123.js',
    '/console/assets/app-ABC123.exe',
    '/console/nothing',
  ]) {
    const r = await raw(port, path);
    assert.equal(r.status, 404, path);
    assert.ok(!r.body.includes('not an asset'), path);
    assert.match(r.body, /href="\/console"/);
  }
  const post = await raw(port, '/console', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers['allow'], 'GET, HEAD');
});

test('a console that was not built: 503 naming the build command', async () => {
  const { server, port } = await serve(join(dir, 'missing'));
  servers.push(server);
  for (const path of ['/console', '/console/assets/app-ABC123.js']) {
    const r = await raw(port, path);
    assert.equal(r.status, 503, path);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(r.body, /npm run build/);
    assert.match(r.body, /node packages\/console\/build\.mjs/);
  }
});

test('a node serves the built console, and the overview of its cluster', async (t) => {
  const nodeDir = mkdtempSync(join(tmpdir(), 'kalam-console-node-'));
  const port = await freePort();
  const config = parseConfig(
    ['[server]', `api_addr = "127.0.0.1:${port}"`, 'data_dir = "data"', '[auth]', 'root_password = "pw-1"'].join('\n'),
    { baseDir: nodeDir, env: {} },
  );
  // One hook, in order: the API, then the node, then its folder.
  const running: { node?: RunningNode; api?: ApiServer } = {};
  t.after(async () => {
    await running.api?.close();
    await running.node?.stop();
    rmSync(nodeDir, { recursive: true, force: true });
  });
  const node = (running.node = await startNode(config));
  const api = (running.api = createApiServer(node, { version: 'test' }));
  const url = (await api.listen()).url;

  const builtIndex = fileURLToPath(new URL('../../../console/dist/index.html', import.meta.url));
  let index: string | undefined;
  try {
    index = readFileSync(builtIndex, 'utf8');
  } catch {
    t.diagnostic(`the console is not built (${builtIndex}): only the overview is checked`);
  }
  const page = await raw(port, '/console');
  if (index === undefined) assert.equal(page.status, 503);
  else {
    assert.equal(page.status, 200);
    assert.equal(page.body, index);
    const assets = [...index.matchAll(/\/console\/assets\/[^"]+/g)].map((m) => m[0]);
    assert.equal(assets.length, 2, index);
    for (const a of assets) assert.equal((await raw(port, a)).status, 200, a);
  }

  assert.equal((await request(url, '/v1/api/cluster/overview')).status, 401);
  const overview = await request(url, '/v1/api/cluster/overview', { auth: basic('root', 'pw-1') });
  assert.equal(overview.status, 200);
  const nodes = overview.body['nodes'] as { node_id: number; self: boolean; reachable: boolean; groups: unknown[] }[];
  assert.equal(overview.body['mode'], 'standalone');
  assert.equal(nodes.length, 1);
  assert.deepEqual(
    nodes.map((n) => [n.node_id, n.self, n.reachable, n.groups.length]),
    [[1, true, true, 36]],
  );
  // The folded groups: every group led by the one node, nothing behind.
  const groups = overview.body['groups'] as { name: string; leader: number | null; lag: Record<string, number> }[];
  assert.equal(groups.length, 36);
  assert.deepEqual(new Set(groups.map((g) => `${g.leader}:${g.lag['1']}`)), new Set(['1:0']));
});
