// `kalam serve` as a real process (DESIGN.md §8): a config error is one line on stderr and exit 2; a standalone
// node prints its ready line, serves, and on SIGTERM exits 0 within the bound without ever creating raft.db; a
// one-member cluster elects itself for all 36 groups, serves SQL, survives a SIGKILL with its data, and stops
// on SIGTERM with exit 0. Processes bind loopback ports chosen at run time and are always reaped (t.after).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { SERVER_LIMITS } from '../src/index.js';
import { basic, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const KALAM_BIN = fileURLToPath(new URL('../../../../bin/kalam', import.meta.url));
const root = basic('root', ROOT_PASSWORD);

function runKalam(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [KALAM_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('a bad config: one line on stderr naming the key, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-server-badconf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.toml');
  writeFileSync(file, '[server]\napi_addr = "127.0.0.1:notaport"\ndata_dir = "d"\n[auth]\nroot_password = "x"\n');
  const bad = await runKalam(['serve', '--config', file]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stdout, '');
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /server\.api_addr/);
  const missing = await runKalam(['serve', '--config', join(dir, 'none.toml')]);
  assert.equal(missing.code, 2);
});

test('standalone: ready line, SQL, SIGTERM exits 0 in bound, no raft.db', async (t) => {
  const nodes = await KalamNodes.start({ members: 0 });
  t.after(() => nodes.close());
  const url = nodes.url(1);
  const health = await request(url, '/v1/api/healthcheck');
  assert.equal(health.body['mode'], 'standalone');
  const r = await sql(
    url,
    root,
    'CREATE NAMESPACE s; CREATE TABLE s.t (id BIGINT PRIMARY KEY); INSERT INTO s.t (id) VALUES (7)',
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const exit = await nodes.kill(1, 'SIGTERM');
  assert.equal(exit.code, 0, nodes.stderrOf(1));
  assert.ok(exit.elapsedMs < SERVER_LIMITS.shutdownHardMs, `stopped in ${exit.elapsedMs} ms`);
  assert.ok(existsSync(join(nodes.dataDir(1), 'data.db')));
  assert.equal(existsSync(join(nodes.dataDir(1), 'raft.db')), false);
  const ready = await nodes.startNode(1);
  assert.equal(ready['mode'], 'standalone');
  assert.equal(typeof ready['pid'], 'number');
  assert.deepEqual(rowsOf(await sql(nodes.url(1), root, 'SELECT id FROM s.t')), [[7]]);
});

test('a one-member cluster works, keeps its data across SIGKILL, and stops on SIGTERM', async (t) => {
  const nodes = await KalamNodes.start({ members: 1 });
  t.after(() => nodes.close());
  const url = nodes.url(1);
  assert.equal((await request(url, '/v1/api/healthcheck')).body['mode'], 'cluster');
  const r = await sql(
    url,
    root,
    "CREATE NAMESPACE c; CREATE SHARED TABLE c.t (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO c.t (id, v) VALUES (1, 'one')",
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const status = await request(url, '/v1/api/cluster/status', { auth: root });
  assert.equal(status.body['mode'], 'cluster');
  const groups = status.body['groups'] as { leader: number | null; applied_index: number }[];
  assert.equal(groups.length, 36);
  assert.ok(groups.every((g) => g.leader === 1));
  assert.ok(existsSync(join(nodes.dataDir(1), 'raft.db')));

  await nodes.kill(1, 'SIGKILL');
  await nodes.startNode(1);
  assert.deepEqual(rowsOf(await sql(nodes.url(1), root, 'SELECT id, v FROM c.t')), [[1, 'one']]);
  const exit = await nodes.kill(1, 'SIGTERM');
  assert.equal(exit.code, 0, nodes.stderrOf(1));
  assert.ok(exit.elapsedMs < SERVER_LIMITS.shutdownHardMs);
});
