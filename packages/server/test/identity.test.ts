// A node's identity in its data_dir (node.json, issue [M9] §2), without a cluster: a static member writes it from its
// config on its first start and is refused later under another node id or another cluster; a joining node is refused
// before it sends anything when its data_dir holds a node's state without node.json, or when it would announce an
// address the members cannot dial (a wildcard host, port 0). The join itself runs end to end in
// membership-cluster.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { parseConfig } from '../src/index.js';
import type { ClusterNodeConfig } from '../src/index.js';
import { checkStaticIdentity, readIdentity } from '../src/identity.js';
import { joinCluster } from '../src/join.js';

const ENV = { KALAM_ROOT_PASSWORD: 'root-password', KALAM_CLUSTER_SECRET: 'cluster-secret-0123456789' };

function config(dataDir: string, cluster: string): ClusterNodeConfig {
  const text = `[server]\napi_addr = "127.0.0.1:18081"\ndata_dir = "${dataDir}"\n${cluster}`;
  const c = parseConfig(text, { baseDir: dataDir, env: ENV, source: 'test.toml' });
  assert.equal(c.mode, 'cluster');
  return c;
}

const STATIC = (nodeId: number, clusterId = 'c1'): string =>
  `[cluster]\ncluster_id = "${clusterId}"\nnode_id = ${nodeId}\n[cluster.raft]\nrpc_addr = "127.0.0.1:1910${nodeId}"\n` +
  [1, 2, 3]
    .map(
      (n) => `[[cluster.members]]\nnode_id = ${n}\nrpc_addr = "127.0.0.1:1910${n}"\napi_addr = "127.0.0.1:1808${n}"\n`,
    )
    .join('');

test('a static member writes node.json on its first start and is refused under another id or cluster', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-identity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  checkStaticIdentity(config(dir, STATIC(2)));
  const written = readIdentity(dir);
  assert.equal(written?.node_id, 2);
  assert.equal(written?.cluster_id, 'c1');
  assert.equal(written?.origin, 'config');
  assert.deepEqual(
    written?.members.map((m) => m.node_id),
    [1, 2, 3],
  );
  checkStaticIdentity(config(dir, STATIC(2))); // the same node again: fine
  assert.throws(() => checkStaticIdentity(config(dir, STATIC(3))), /belongs to node 2, but cluster.node_id is 3/);
  assert.throws(() => checkStaticIdentity(config(dir, STATIC(2, 'c2'))), /belongs to cluster "c1".*"c2"/);
  writeFileSync(join(dir, 'node.json'), '{"format":1}');
  assert.throws(() => readIdentity(dir), /is not a Kalam node identity/);
});

test('a join is refused before it is sent: state without node.json, or an address the members cannot dial', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-identity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const joining = (rpc: string, api = '127.0.0.1:18084'): ClusterNodeConfig => {
    const c = config(dir, `[cluster]\njoin = "127.0.0.1:9"\n[cluster.raft]\nrpc_addr = "${rpc}"\n`);
    return { ...c, server: { ...c.server, apiAddr: hostPort(api) } };
  };
  const log = (): void => undefined;
  await assert.rejects(joinCluster(joining('0.0.0.0:19104'), log), /cluster.raft.rpc_addr .* not 0\.0\.0\.0:19104/);
  await assert.rejects(joinCluster(joining('127.0.0.1:19104', '0.0.0.0:18084'), log), /server.api_addr/);
  writeFileSync(join(dir, 'data.db'), '');
  await assert.rejects(joinCluster(joining('127.0.0.1:19104'), log), /needs an empty data_dir/);
});

function hostPort(text: string): { host: string; port: number } {
  const [host, port] = text.split(':') as [string, string];
  return { host, port: Number(port) };
}
