// [M10] §1 config keys: bind addresses apart from the advertised ones (server.api_bind, cluster.raft.rpc_bind) and
// [tls] (cert_file, key_file, ca_file, require_client_cert), from the file and from KALAM_* variables, and the clear
// errors: a file missing, a key that is not the certificate's, a certificate the CA did not sign or that expired, and
// an http:// member with [tls].
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { makeCa, makeLeaf } from '../src/certs.js';
import { ConfigError, describeConfig, parseConfig } from '../src/index.js';
import type { NodeConfig } from '../src/index.js';

const SECRET = 'cluster-secret-0123456789';
const ENV = { KALAM_ROOT_PASSWORD: 'root-password', KALAM_CLUSTER_SECRET: SECRET };
const dir = mkdtempSync(path.join(tmpdir(), 'kalam-config-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ca = makeCa('config test CA');
const leaf = makeLeaf(ca, 'node 1', ['127.0.0.1', 'localhost']);
const otherLeaf = makeLeaf(makeCa('other CA'), 'node 1', ['127.0.0.1']);
const expired = makeLeaf(ca, 'node 1', ['127.0.0.1'], {
  notBefore: new Date(Date.now() - 10 * 86_400_000),
  notAfter: new Date(Date.now() - 86_400_000),
});
for (const [name, text] of Object.entries({
  'ca.pem': ca.cert,
  'node.pem': leaf.cert,
  'node.key': leaf.key,
  'other.pem': otherLeaf.cert,
  'other.key': otherLeaf.key,
  'expired.pem': expired.cert,
  'expired.key': expired.key,
  'garbage.pem': 'not a certificate\n',
})) {
  writeFileSync(path.join(dir, name), text, { mode: 0o600 });
}

function parse(text: string, env: Readonly<Record<string, string>> = ENV): NodeConfig {
  return parseConfig(text, { baseDir: dir, env, source: 'test.toml' });
}

function problemsOf(text: string, env: Readonly<Record<string, string>> = ENV): { key: string; message: string }[] {
  try {
    parse(text, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => ({ key: p.key, message: p.message }));
  }
  assert.fail('expected a ConfigError');
}

function tlsTable(keys: Record<string, string | undefined> = {}): string {
  const all = { cert_file: '"node.pem"', key_file: '"node.key"', ca_file: '"ca.pem"', ...keys };
  const lines = Object.entries(all)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} = ${v}`);
  return `[tls]\n${lines.join('\n')}\n`;
}

function clusterToml(opts: { server?: string; raft?: string; member1Api?: string; tls?: string } = {}): string {
  return [
    `[server]\napi_addr = "node1.example:8081"\ndata_dir = "data"\n${opts.server ?? ''}`,
    `[cluster]\ncluster_id = "c"\nnode_id = 1`,
    `[cluster.raft]\nrpc_addr = "node1.example:9081"\n${opts.raft ?? ''}`,
    `[[cluster.members]]\nnode_id = 1\nrpc_addr = "node1.example:9081"\napi_addr = ${opts.member1Api ?? '"node1.example:8081"'}`,
    `[[cluster.members]]\nnode_id = 2\nrpc_addr = "node2.example:9081"\napi_addr = "node2.example:8081"`,
    opts.tls ?? '',
  ].join('\n');
}

test('api_bind and rpc_bind default to the advertised addresses', () => {
  const config = parse(clusterToml());
  assert.deepEqual(config.server.apiBind, { host: 'node1.example', port: 8081 });
  assert.deepEqual(config.cluster?.raft.rpcBind, { host: 'node1.example', port: 9081 });
  assert.equal(config.tls, undefined);
  assert.equal(config.cluster?.members[0]?.apiUrl, 'http://node1.example:8081');
});

test('api_bind and rpc_bind may be a wildcard (0.0.0.0 or [::]) while the advertised address is a host name', () => {
  const config = parse(clusterToml({ server: 'api_bind = "0.0.0.0:8081"', raft: 'rpc_bind = "[::]:9081"' }));
  assert.deepEqual(config.server.apiAddr, { host: 'node1.example', port: 8081 });
  assert.deepEqual(config.server.apiBind, { host: '0.0.0.0', port: 8081 });
  assert.deepEqual(config.cluster?.raft.rpcAddr, { host: 'node1.example', port: 9081 });
  assert.deepEqual(config.cluster?.raft.rpcBind, { host: '::', port: 9081 });
  const described = JSON.stringify(describeConfig(config));
  assert.match(described, /"apiBind":"0\.0\.0\.0:8081"/);
  assert.match(described, /"rpcBind":"\[::\]:9081"/);
});

test('KALAM_SERVER_API_BIND and KALAM_CLUSTER_RAFT_RPC_BIND override the file', () => {
  const config = parse(clusterToml({ server: 'api_bind = "127.0.0.1:8081"' }), {
    ...ENV,
    KALAM_SERVER_API_BIND: '[::]:7001',
    KALAM_CLUSTER_RAFT_RPC_BIND: '0.0.0.0:7002',
  });
  assert.deepEqual(config.server.apiBind, { host: '::', port: 7001 });
  assert.deepEqual(config.cluster?.raft.rpcBind, { host: '0.0.0.0', port: 7002 });
});

test('a bad bind address is an error naming its key (and the variable it came from)', () => {
  const problems = problemsOf(clusterToml({ server: 'api_bind = "::1:8081"' }), {
    ...ENV,
    KALAM_CLUSTER_RAFT_RPC_BIND: 'nowhere',
  });
  const api = problems.find((p) => p.key === 'server.api_bind');
  assert.match(api?.message ?? '', /server\.api_bind must be host:port.*brackets/);
  const rpc = problems.find((p) => p.key === 'cluster.raft.rpc_bind');
  assert.match(rpc?.message ?? '', /cluster\.raft\.rpc_bind \(from KALAM_CLUSTER_RAFT_RPC_BIND\).*port is missing/);
});

test('[tls] reads the three PEM files (relative to the config), and bare member addresses become https', () => {
  const config = parse(clusterToml({ tls: tlsTable({ require_client_cert: 'true' }) }));
  assert.ok(config.tls);
  assert.equal(config.tls.certFile, path.join(dir, 'node.pem'));
  assert.equal(config.tls.cert, leaf.cert);
  assert.equal(config.tls.key, leaf.key);
  assert.equal(config.tls.ca, ca.cert);
  assert.equal(config.tls.requireClientCert, true);
  assert.deepEqual(
    config.cluster?.members.map((m) => m.apiUrl),
    ['https://node1.example:8081', 'https://node2.example:8081'],
  );
  const described = JSON.stringify(describeConfig(config));
  assert.ok(!described.includes('PRIVATE KEY'), 'the key never appears in the description');
  assert.match(described, /"requireClientCert":true/);
  const defaultMtls = parse(clusterToml({ tls: tlsTable() }));
  assert.equal(defaultMtls.tls?.requireClientCert, false);
});

test('KALAM_TLS_* variables set [tls] (a container may have no [tls] in its file)', () => {
  const config = parse(clusterToml(), {
    ...ENV,
    KALAM_TLS_CERT_FILE: path.join(dir, 'node.pem'),
    KALAM_TLS_KEY_FILE: path.join(dir, 'node.key'),
    KALAM_TLS_CA_FILE: path.join(dir, 'ca.pem'),
    KALAM_TLS_REQUIRE_CLIENT_CERT: 'true',
  });
  assert.equal(config.tls?.requireClientCert, true);
  assert.equal(config.cluster?.members[1]?.apiUrl, 'https://node2.example:8081');
  const problems = problemsOf(clusterToml(), { ...ENV, KALAM_TLS_CERT_FILE: path.join(dir, 'node.pem') });
  assert.deepEqual(problems.map((p) => p.key).sort(), ['tls.ca_file', 'tls.key_file']);
  assert.ok(problems.every((p) => /is required/.test(p.message)));
});

test('with [tls] an http:// member (or join URL) is an error; without it https:// stays allowed', () => {
  const problems = problemsOf(clusterToml({ member1Api: '"http://node1.example:8081"', tls: tlsTable() }));
  const member = problems.find((p) => p.key === 'cluster.members[0].api_addr');
  assert.match(member?.message ?? '', /must be "https:\/\/host:port".*\[tls\] section is set/);
  const plain = parse(clusterToml({ member1Api: '"https://node1.example:8081"' }));
  assert.equal(plain.cluster?.members[0]?.apiUrl, 'https://node1.example:8081');
  const joining = parse(
    `[server]\napi_addr = "n4.example:8081"\ndata_dir = "d"\n[cluster]\njoin = "node1.example:8081"\n` +
      `[cluster.raft]\nrpc_addr = "n4.example:9081"\n${tlsTable()}`,
  );
  assert.equal(joining.cluster?.join, 'https://node1.example:8081');
});

test('[tls] file errors are clear: missing, not PEM, a key of another certificate, another CA, expired', () => {
  const missing = problemsOf(clusterToml({ tls: tlsTable({ cert_file: '"nope.pem"' }) }));
  assert.equal(missing[0]?.key, 'tls.cert_file');
  assert.match(missing[0]?.message ?? '', /nope\.pem cannot be read: ENOENT/);

  const garbage = problemsOf(clusterToml({ tls: tlsTable({ ca_file: '"garbage.pem"' }) }));
  assert.equal(garbage[0]?.key, 'tls.ca_file');
  assert.match(garbage[0]?.message ?? '', /holds no PEM certificate/);

  const mismatch = problemsOf(clusterToml({ tls: tlsTable({ key_file: '"other.key"' }) }));
  assert.deepEqual(
    mismatch.map((p) => p.key),
    ['tls.key_file'],
  );
  assert.match(mismatch[0]?.message ?? '', /other\.key is not the key of the certificate in tls\.cert_file/);

  const foreign = problemsOf(clusterToml({ tls: tlsTable({ cert_file: '"other.pem"', key_file: '"other.key"' }) }));
  assert.equal(foreign[0]?.key, 'tls.cert_file');
  assert.match(foreign[0]?.message ?? '', /is not signed by the CA in tls\.ca_file/);

  const old = problemsOf(clusterToml({ tls: tlsTable({ cert_file: '"expired.pem"', key_file: '"expired.key"' }) }));
  assert.equal(old[0]?.key, 'tls.cert_file');
  assert.match(old[0]?.message ?? '', /expired on/);
});
