// What this proves (issue M6 §3, adversaries.md §3 "information leaks"): the node's topology and storage paths are
// shown on every surface by the same role rule as the system tables that hold them — system.cluster_nodes and
// system.cluster_groups for GET /v1/api/cluster/status, system.storages for SHOW STORAGES. A `user` or `service`
// account gets 403 PERMISSION_DENIED on each; a dba and root (system) get the data.
// One standalone node in this process (a temp data_dir, a port chosen at run time), stopped in `after`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { createApiServer, parseConfig, startNode } from '../src/index.js';
import type { ApiServer, RunningNode } from '../src/index.js';
import { basic, freePort, request, rowsOf, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';

const ROOT_PASSWORD = 'root-pass-roles';
const root = basic('root', ROOT_PASSWORD);
const USERS = { uma: 'user', sam: 'service', dina: 'dba' } as const;
const auth = (name: keyof typeof USERS): string => basic(name, `${name}-pass`);

let dir: string;
let node: RunningNode | undefined;
let api: ApiServer | undefined;
let url: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kalam-auth-roles-'));
  const port = await freePort();
  const text = ['[server]', `api_addr = "127.0.0.1:${port}"`, 'data_dir = "data"', '[auth]'];
  text.push(`root_password = "${ROOT_PASSWORD}"`);
  node = await startNode(parseConfig(text.join('\n'), { baseDir: dir, env: {} }));
  api = createApiServer(node, { version: 'test' });
  url = (await api.listen()).url;
  for (const [name, role] of Object.entries(USERS)) {
    const r = await sql(url, root, `CREATE USER '${name}' WITH PASSWORD '${name}-pass' ROLE ${role}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const storage = await sql(url, root, "CREATE STORAGE cold TYPE 'filesystem' PATH '/srv/kalam/secret-cold'");
  assert.equal(storage.status, 200, JSON.stringify(storage.body));
});

after(async () => {
  await api?.close();
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function assertDenied(r: JsonReply, what: string): void {
  assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal((r.body['error'] as { code: string }).code, 'PERMISSION_DENIED', what);
  assert.doesNotMatch(JSON.stringify(r.body), /secret-cold|127\.0\.0\.1|groups/, `${what} leaks nothing`);
}

test('GET /v1/api/cluster/status: user and service get 403 PERMISSION_DENIED, dba and root the topology', async () => {
  for (const name of ['uma', 'sam'] as const) {
    assertDenied(await request(url, '/v1/api/cluster/status', { auth: auth(name) }), `cluster status as ${name}`);
  }
  for (const who of [auth('dina'), root]) {
    const r = await request(url, '/v1/api/cluster/status', { auth: who });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((r.body['groups'] as unknown[]).length, 36);
  }
});

test('SHOW STORAGES: user and service get 403 PERMISSION_DENIED, dba and root the paths', async () => {
  for (const name of ['uma', 'sam'] as const) {
    assertDenied(await sql(url, auth(name), 'SHOW STORAGES'), `SHOW STORAGES as ${name}`);
    assertDenied(await sql(url, auth(name), 'SELECT * FROM system.storages'), `system.storages as ${name}`);
  }
  for (const who of [auth('dina'), root]) {
    assert.deepEqual(rowsOf(await sql(url, who, 'SHOW STORAGES')), [['cold', 'filesystem', '/srv/kalam/secret-cold']]);
  }
});

test('SHOW NAMESPACES and SHOW TABLES stay open to every role, as system.namespaces and system.tables are', async () => {
  for (const name of ['uma', 'sam', 'dina'] as const) {
    assert.equal((await sql(url, auth(name), 'SHOW NAMESPACES')).status, 200);
    assert.equal((await sql(url, auth(name), 'SHOW TABLES')).status, 200);
  }
});
