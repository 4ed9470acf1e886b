// What the supervisor of `kalam cluster up` needs from a node: the admin endpoints exist only with
// `[debug] admin_endpoints = true` (404 otherwise, like any unknown path) and only for root (401 without
// credentials, 403 for another user); digests are sha256 of each group's snapshot at its applied index and move
// with a write; a standalone node refuses fault rules; and `kalam serve --exit-with-stdin` stops gracefully
// (exit 0) when its stdin closes. The fault endpoints of a cluster node are exercised end to end by the CLI's
// cluster test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { allGroups, groupName } from '@kalam/kalamdb';

import { createApiServer, parseConfig, startNode } from '../src/index.js';
import { basic, eventually, freePort, request, sql } from './support/net.js';

const ROOT_PASSWORD = 'root-pass-1';
const root = basic('root', ROOT_PASSWORD);
const KALAM_BIN = fileURLToPath(new URL('../../../../bin/kalam', import.meta.url));

async function standaloneToml(dir: string, extra: string[]): Promise<string> {
  const port = await freePort();
  return [
    '[server]',
    `api_addr = "127.0.0.1:${port}"`,
    `data_dir = ${JSON.stringify(join(dir, 'data'))}`,
    '[auth]',
    `root_password = "${ROOT_PASSWORD}"`,
    ...extra,
  ].join('\n');
}

async function startInProcess(adminEndpoints: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-server-admin-'));
  const text = await standaloneToml(dir, adminEndpoints ? ['[debug]', 'admin_endpoints = true'] : []);
  const node = await startNode(parseConfig(text, { baseDir: dir, env: {} }));
  const api = createApiServer(node, { version: 'test' });
  const { url } = await api.listen();
  return {
    node,
    url,
    close: async () => {
      await api.close();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('admin endpoints: 404 unless [debug] admin_endpoints = true', async (t) => {
  const off = await startInProcess(false);
  t.after(() => off.close());
  assert.equal(off.node.config.debug.adminEndpoints, false);
  for (const path of ['/v1/api/admin/faults', '/v1/api/admin/digests']) {
    const res = await request(off.url, path, { auth: root });
    assert.equal(res.status, 404, path);
  }
});

test('admin endpoints: root only; digests follow writes; a standalone node has no links to fault', async (t) => {
  const on = await startInProcess(true);
  t.after(() => on.close());
  assert.equal((await request(on.url, '/v1/api/admin/digests')).status, 401);
  assert.equal((await sql(on.url, root, "CREATE USER 'alice' WITH PASSWORD 'a-pass' ROLE dba")).status, 200);
  const denied = await request(on.url, '/v1/api/admin/digests', { auth: basic('alice', 'a-pass') });
  assert.equal(denied.status, 403);
  assert.equal((denied.body['error'] as { code: string }).code, 'PERMISSION_DENIED');

  // The node applies on its own right after start (the job manager's first round on meta:jobs), so a reply can
  // be one apply behind the moment the test hashes the snapshots: poll until the two views agree, bounded.
  const sharding = on.node.machines.sharding;
  const groups = await eventually(10_000, 'digests equal to sha256 of each snapshot at its applied index', async () => {
    const before = await request(on.url, '/v1/api/admin/digests', { auth: root });
    assert.equal(before.status, 200);
    const reply = before.body['groups'] as Record<string, { applied: number; digest: string }>;
    assert.equal(Object.keys(reply).length, allGroups(sharding).length);
    for (const g of allGroups(sharding)) {
      const machine = on.node.machines.of(g);
      const expected = createHash('sha256').update(machine.snapshot()).digest('hex');
      assert.deepEqual(reply[groupName(g)], { applied: machine.appliedIndex(), digest: expected }, groupName(g));
    }
    return reply;
  });
  const setup = await sql(
    on.url,
    root,
    'CREATE NAMESPACE a; CREATE SHARED TABLE a.t (id BIGINT PRIMARY KEY); INSERT INTO a.t (id) VALUES (1)',
  );
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const after = (await request(on.url, '/v1/api/admin/digests', { auth: root })).body['groups'] as typeof groups;
  const changed = Object.keys(groups).filter((name) => groups[name]?.digest !== after[name]?.digest);
  assert.ok(changed.includes('data:shared:00'), `the shared shard's digest moved (changed: ${changed.join(', ')})`);
  assert.ok((after['data:shared:00']?.applied ?? 0) > (groups['data:shared:00']?.applied ?? 0));

  const faults = await request(on.url, '/v1/api/admin/faults', { auth: root });
  assert.deepEqual(faults.body, { node_id: 1, faults: [], fsync_delay_ms: 0 });
  const refused = await request(on.url, '/v1/api/admin/faults', {
    auth: root,
    body: { peers: [2], rule: { blockInbound: true } },
  });
  assert.equal(refused.status, 400);
  assert.equal((await request(on.url, '/v1/api/admin/digests', { auth: root, body: {} })).status, 405);
});

test('kalam serve --exit-with-stdin: closing stdin is a graceful stop (exit 0)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-server-stdin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'node.toml');
  writeFileSync(file, await standaloneToml(dir, []));
  const proc = spawn(process.execPath, [KALAM_BIN, 'serve', '--config', file, '--exit-with-stdin'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 30 s: ${stderr}`)), 30_000);
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"event":"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  proc.stdin.end();
  const bound = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref());
  assert.equal(await Promise.race([exited, bound]), 0, stderr);
  assert.match(stderr, /"event":"node.stopped".*stopped on stdin closed/);
});

test('[debug] admin_endpoints: a boolean, default false, overridable as KALAM_DEBUG_ADMIN_ENDPOINTS', () => {
  const base = ['[server]', 'data_dir = "d"', '[auth]', 'root_password = "p"'];
  const parse = (lines: string[], env: Record<string, string> = {}) =>
    parseConfig(lines.join('\n'), { baseDir: '/tmp', env });
  assert.equal(parse(base).debug.adminEndpoints, false);
  assert.equal(parse([...base, '[debug]', 'admin_endpoints = true']).debug.adminEndpoints, true);
  assert.equal(parse(base, { KALAM_DEBUG_ADMIN_ENDPOINTS: 'true' }).debug.adminEndpoints, true);
  assert.throws(() => parse(base, { KALAM_DEBUG_ADMIN_ENDPOINTS: 'yes' }), /must be true or false/);
  assert.throws(() => parse([...base, '[debug]', 'admin_endpoints = 1']), /must be true or false/);
  assert.throws(() => parse([...base, '[debug]', 'admin_endpoint = true']), /did you mean debug\.admin_endpoints/);
});
