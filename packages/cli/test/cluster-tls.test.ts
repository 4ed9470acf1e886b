/**
 * `kalam cluster up --tls` end to end through bin/kalam ([M10] §1), short enough for every CI run: a 3-node cluster in
 * a temp --dir on free ports gives https:// API URLs in `--json`; the folder's tls/ has the CA and one certificate
 * per node naming 127.0.0.1, ::1, localhost, keys mode 0600, and the node configs have [tls] with
 * require_client_cert; `kalam sql` (which trusts the folder's CA) writes and reads a row; a client that does not
 * trust the CA is refused, `kalam sql --url http://…` to an HTTPS port fails with a message that says https, and
 * `--url https://…` works with KALAM_CA_FILE. Every process is SIGKILLed by pid in t.after, on failure too.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { findFreeBasePort } from '../src/cluster/folder.js';
import type { ClusterCredentials, ClusterStatus } from '../src/cluster/types.js';
import type { Run } from './support/cli-process.js';
import { pidsOf, runKalam, tempCluster, waitUntil } from './support/cli-process.js';

const COMMAND_TIMEOUT_MS = 90_000;
const run = (args: readonly string[], env: Record<string, string> = {}): Promise<Run> =>
  env['KALAM_CA_FILE'] === undefined ? runKalam(args, COMMAND_TIMEOUT_MS) : runWithEnv(args, env);

/** runKalam with extra environment (KALAM_CA_FILE), set around the call: the test file runs its tests in order. */
async function runWithEnv(args: readonly string[], env: Record<string, string>): Promise<Run> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await runKalam(args, COMMAND_TIMEOUT_MS);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('kalam cluster up --tls: https URLs, certificates in the folder, kalam sql over HTTPS, untrusted clients refused', async (t) => {
  const { dir, track } = tempCluster(t, 'tls');
  const base = await findFreeBasePort(3);
  const up = await run(['cluster', 'up', '--nodes', '3', '--tls', '--json', '--dir', dir, '--base-port', String(base)]);
  assert.equal(up.code, 0, up.stderr);
  const status = JSON.parse(up.stdout) as ClusterStatus;
  track(pidsOf(status));
  t.after(async () => {
    await run(['cluster', 'down', '--dir', dir]);
  });

  await t.test('--json gives https:// API URLs', () => {
    assert.deepEqual(
      status.nodes.map((n) => n.apiUrl),
      [0, 1, 2].map((i) => `https://127.0.0.1:${base + i}`),
    );
  });

  await t.test('the folder holds the CA and a certificate per node, keys 0600; configs have [tls]', () => {
    const ca = new X509Certificate(readFileSync(join(dir, 'tls', 'ca.pem')));
    assert.equal(ca.ca, true);
    for (const id of [1, 2, 3]) {
      const cert = new X509Certificate(readFileSync(join(dir, 'tls', `node${id}.pem`)));
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `node ${id}'s certificate is signed by the CA`);
      assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
      assert.match(cert.subjectAltName ?? '', /IP Address:0:0:0:0:0:0:0:1/);
      assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
      assert.equal(statSync(join(dir, 'tls', `node${id}.key`)).mode & 0o777, 0o600);
      const config = readFileSync(join(dir, 'nodes', `node${id}.toml`), 'utf8');
      assert.match(config, /\[tls\][^[]*require_client_cert = true/);
    }
    assert.equal(statSync(join(dir, 'tls', 'ca.key')).mode & 0o777, 0o600);
  });

  await t.test('kalam sql writes and reads over HTTPS, trusting the folder CA', async () => {
    const ddl = await run([
      'sql',
      '--dir',
      dir,
      "CREATE NAMESPACE app; CREATE TABLE app.t (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO app.t (id, v) VALUES (7, 'tls')",
    ]);
    assert.equal(ddl.code, 0, ddl.stderr);
    const read = await run(['sql', '--dir', dir, '--node', '3', 'SELECT id, v FROM app.t']);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /7 \| tls/);
  });

  await t.test('a client without the CA is refused; http:// to the HTTPS port says to use https', async () => {
    await assert.rejects(fetch(`https://127.0.0.1:${base}/v1/api/health/live`), (err: Error) => {
      assert.match(String((err.cause as Error | undefined)?.message), /self[- ]signed|certificate/i);
      return true;
    });
    const creds = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as ClusterCredentials;
    const untrusted = await run([
      'sql',
      '--url',
      `https://127.0.0.1:${base}`,
      '--password',
      creds.password,
      'SELECT 1',
    ]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /SELF_SIGNED_CERT_IN_CHAIN|certificate/i);
    const plain = await run(['sql', '--url', `http://127.0.0.1:${base}`, '--password', creds.password, 'SELECT 1']);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /serves HTTPS only: use https:\/\//);
    const trusted = await run(
      ['sql', '--url', `https://127.0.0.1:${base + 1}`, '--password', creds.password, 'SELECT count(*) FROM app.t'],
      { KALAM_CA_FILE: join(dir, 'tls', 'ca.pem') },
    );
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, /\b1\b/);
  });

  await t.test('cluster status reads the nodes over HTTPS', async () => {
    // Every group is led, though not at every instant: the leader balance moves leaders after `up`, and a group is
    // without one for the moment of each transfer (CI once read 34 of 36). Bounded, a status read each time.
    let led = 0;
    await waitUntil(
      'cluster status shows a leader for all 36 groups',
      30_000,
      async () => {
        const r = await run(['cluster', 'status', '--json', '--dir', dir]);
        assert.equal(r.code, 0, r.stderr);
        const s = JSON.parse(r.stdout) as ClusterStatus;
        assert.equal(s.groups.length, 36);
        led = s.groups.filter((g) => g.leader !== null).length;
        return led === 36;
      },
      250,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)} (last: ${led})`);
    });
  });
});

test('kalam backup reads every group of a --tls cluster over HTTPS, and the backup restores', async (t) => {
  const { dir, track } = tempCluster(t, 'tls-backup');
  const base = await findFreeBasePort(3);
  const up = await run(['cluster', 'up', '--nodes', '3', '--tls', '--json', '--dir', dir, '--base-port', String(base)]);
  assert.equal(up.code, 0, up.stderr);
  track(pidsOf(JSON.parse(up.stdout) as ClusterStatus));
  t.after(async () => {
    await run(['cluster', 'down', '--dir', dir]);
  });
  const ddl = await run([
    'sql',
    '--dir',
    dir,
    "CREATE NAMESPACE app; CREATE SHARED TABLE app.kv (id BIGINT PRIMARY KEY, v TEXT); INSERT INTO app.kv (id, v) VALUES (1, 'a'), (2, 'b')",
  ]);
  assert.equal(ddl.code, 0, ddl.stderr);
  const file = join(dir, 'b.kalam-backup');
  const backup = await run(['backup', '--dir', dir, '--to', file, '--json']);
  assert.equal(backup.code, 0, backup.stderr);
  const { manifest } = JSON.parse(backup.stdout) as { manifest: { groups: { name: string }[] } };
  assert.equal(manifest.groups.length, 36);
  const creds = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as ClusterCredentials;
  const restored = await run([
    'restore',
    file,
    '--into',
    join(dir, 'restored'),
    '--nodes',
    '1',
    '--base-port',
    String(await findFreeBasePort(1)),
    '--password',
    creds.password,
  ]);
  assert.equal(restored.code, 0, restored.stderr);
});
