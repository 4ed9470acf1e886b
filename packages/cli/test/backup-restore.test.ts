/**
 * `kalam backup` and `kalam restore` end to end through bin/kalam, with real supervisors and node processes on ports
 * free at run time (issue [M10] §3) — the backup-restore drill:
 *   - a 3-node cluster with rows, some of them flushed to Parquet; a user `alice`; backup B0;
 *   - under load — writers inserting rows, and a DDL racer creating tables and writing a row into each at once —
 *     backup B1 is taken while the load runs; the GET /v1/api/backup/snapshot endpoint refuses a non-root user (403);
 *   - every node's data is destroyed (`cluster down --wipe`);
 *   - a flipped byte, a cut-off file, and a splice of B1's data groups with B0's older meta:system (a cut that breaks
 *     the cross-group order: rows of tables that meta does not know) are each refused, exit 1, with nothing written;
 *   - B1 restored into a new folder of 2 nodes and started: every write acknowledged before B1 began is there
 *     (rows, the DDL racer's tables and their rows, the flushed rows), every table the restored catalog lists
 *     answers, the member list and every group's voters are the new nodes, alice still logs in, and the cluster
 *     takes writes again.
 * And a standalone node's backup (`--url`) restores into a 3-node cluster that takes writes (a standalone node applies at
 * term 0: restore seeds term 1) and remembers the client sessions the backup held (a retried write is replayed). Every process is SIGKILLed by pid in t.after, on failure too.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import { BACKUP_HEADER, backupTrailer, openBackup } from '../src/backup/format.js';
import type { BackupGroup, BackupManifest } from '../src/backup/format.js';
import { findFreeBasePort } from '../src/cluster/folder.js';
import type { ClusterCredentials, ClusterStatus } from '../src/cluster/types.js';
import type { Run } from './support/cli-process.js';
import { pidsOf, runKalam, tempCluster } from './support/cli-process.js';
import { ROOT_PASSWORD, StandaloneNode } from './support/standalone.js';

const COMMAND_TIMEOUT_MS = 120_000;
/** How long the load runs before the backup starts (it goes on during the backup). */
const LOAD_WARMUP_MS = 1_500;
const WRITERS = 3;

const run = (args: readonly string[]): Promise<Run> => runKalam(args, COMMAND_TIMEOUT_MS);

interface Sql {
  readonly status: number;
  readonly rows: unknown[][];
  readonly code?: string;
  /** The answer's `client_session` (a write under a client session). */
  readonly clientSession?: unknown;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

async function sql(apiUrl: string, auth: string, text: string, extra: Record<string, unknown> = {}): Promise<Sql> {
  const res = await fetch(`${apiUrl}/v1/api/sql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: auth },
    body: JSON.stringify({ sql: text, ...extra }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = (await res.json()) as {
    results?: { rows?: unknown[][] }[];
    error?: { code?: string };
    client_session?: unknown;
  };
  return {
    status: res.status,
    rows: body.results?.at(-1)?.rows ?? [],
    ...(body.error?.code ? { code: body.error.code } : {}),
    ...(body.client_session !== undefined ? { clientSession: body.client_session } : {}),
  };
}

function password(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as ClusterCredentials).password;
}

/** What the load got acknowledged, each with the time of its answer. */
interface Acks {
  rows: { id: number; at: number }[];
  tables: { name: string; at: number }[];
}

/** Writers and a DDL racer against the cluster's nodes until `stop` is set; only 200 answers count as acks. */
function startLoad(apis: readonly string[], auth: string, acks: Acks): { stop: () => Promise<void> } {
  let stopped = false;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const id = 1_000_000 + w * 100_000 + i;
      const r = await sql(apis[i % apis.length]!, auth, `INSERT INTO app.kv (id, v) VALUES (${id}, 'w${w}')`).catch(
        () => undefined,
      );
      if (r?.status === 200) acks.rows.push({ id, at: Date.now() });
    }
  };
  const racer = async (): Promise<void> => {
    for (let k = 0; !stopped; k++) {
      const name = `app.t${k}`;
      const api = apis[k % apis.length]!;
      // One request: the table and its first row, acknowledged together (a batch runs in order).
      const r = await sql(
        api,
        auth,
        `CREATE SHARED TABLE ${name} (id BIGINT PRIMARY KEY); INSERT INTO ${name} (id) VALUES (${k})`,
      ).catch(() => undefined);
      if (r?.status === 200) acks.tables.push({ name, at: Date.now() });
    }
  };
  const all = [...Array.from({ length: WRITERS }, (_, w) => writer(w)), racer()];
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(all);
    },
  };
}

async function status(dir: string): Promise<ClusterStatus> {
  const r = await run(['cluster', 'status', '--json', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ClusterStatus;
}

/** A restore that must be refused: exit 1, one line naming the fault, and nothing at the target or beside it. */
async function refused(file: string, target: string, pass: string, why: RegExp): Promise<void> {
  const r = await run(['restore', file, '--into', target, '--nodes', '2', '--password', pass]);
  assert.equal(r.code, 1, `refused: ${r.stdout} ${r.stderr}`);
  assert.match(r.stderr, why);
  assert.match(r.stderr, /nothing was written/);
  assert.equal(existsSync(target), false, 'nothing written at the target');
  assert.deepEqual(
    readdirSync(dirname(target)).filter((f) => f.includes('.restoring-')),
    [],
    'no half-written folder beside it',
  );
}

function copyWith(from: string, to: string, edit: (bytes: Buffer) => Buffer): void {
  writeFileSync(to, edit(readFileSync(from)));
}

/** B1's groups with meta:system's snapshot taken from B0: written as a well-formed backup file. */
async function splice(b1: string, b0: string, to: string): Promise<void> {
  const one = await openBackup(b1);
  const zero = await openBackup(b0);
  const fd = openSync(to, 'w');
  let offset = Buffer.byteLength(BACKUP_HEADER);
  writeSync(fd, BACKUP_HEADER);
  const groups: BackupGroup[] = [];
  for (const g of one.manifest.groups) {
    const from = g.group_id === 0 ? zero : one;
    const src = from.manifest.groups.find((x) => x.group_id === g.group_id)!;
    const bytes = from.read(src, 0, src.bytes);
    writeSync(fd, bytes);
    groups.push({ ...src, offset });
    offset += src.bytes;
  }
  const manifest: BackupManifest = { ...one.manifest, groups };
  writeSync(fd, backupTrailer(manifest));
  closeSync(fd);
}

test('backup under load and DDL, destroy the cluster, restore into a new one of another size', async (t) => {
  const { dir, track: trackPids } = tempCluster(t, 'backup');
  const root = dirname(dir);
  const up = await run([
    'cluster',
    'up',
    '--nodes',
    '3',
    '--dir',
    dir,
    '--base-port',
    String(await findFreeBasePort(3)),
    '--json',
  ]);
  assert.equal(up.code, 0, up.stderr);
  const first = JSON.parse(up.stdout) as ClusterStatus;
  trackPids(pidsOf(first));
  const pass = password(dir);
  const auth = basic('root', pass);
  const apis = first.nodes.map((n) => n.apiUrl);
  const api1 = apis[0]!;
  const setup = await sql(
    api1,
    auth,
    'CREATE NAMESPACE app; CREATE SHARED TABLE app.kv (id BIGINT PRIMARY KEY, v TEXT); ' +
      "INSERT INTO app.kv (id, v) VALUES (1, 'one'), (2, 'two'); CREATE USER 'alice' WITH PASSWORD 'alice-pw-1' ROLE user",
  );
  assert.equal(setup.status, 200, JSON.stringify(setup));
  assert.equal((await sql(api1, auth, 'FLUSH TABLE app.kv')).status, 200);
  for (let i = 0; i < 100; i++) {
    const files = await sql(api1, auth, "SELECT status FROM system.jobs WHERE job_type = 'flush'");
    if (files.rows.some((r) => r[0] === 'completed')) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal((await sql(api1, auth, "INSERT INTO app.kv (id, v) VALUES (3, 'three')")).status, 200);

  // The endpoint: root only, a group that exists.
  const alice = await fetch(`${api1}/v1/api/backup/snapshot?group=0`, {
    headers: { authorization: basic('alice', 'alice-pw-1') },
  });
  assert.equal(alice.status, 403);
  await alice.body?.cancel();
  const nogroup = await fetch(`${api1}/v1/api/backup/snapshot?group=99`, { headers: { authorization: auth } });
  assert.equal(nogroup.status, 400);
  await nogroup.body?.cancel();

  const b0 = join(root, 'b0.kalam-backup');
  const zero = await run(['backup', '--dir', dir, '--to', b0]);
  assert.equal(zero.code, 0, zero.stderr);
  assert.match(zero.stderr, /36\/36 meta:system/, 'progress, meta:system last');

  // Under load: the backup starts while writers and the DDL racer run, and they go on until it is done.
  const acks: Acks = { rows: [], tables: [] };
  const load = startLoad(apis, auth, acks);
  await new Promise((resolve) => setTimeout(resolve, LOAD_WARMUP_MS));
  const cut = Date.now();
  const b1Run = await run(['backup', '--dir', dir, '--to', root, '--json']);
  await load.stop();
  assert.equal(b1Run.code, 0, b1Run.stderr);
  const b1 = (JSON.parse(b1Run.stdout) as { file: string; manifest: BackupManifest }).file;
  assert.equal(dirname(b1), root, '--to DIR names the file inside it');
  const manifest = (JSON.parse(b1Run.stdout) as { manifest: BackupManifest }).manifest;
  assert.equal(manifest.groups.length, 36);
  assert.equal(manifest.groups.at(-1)?.name, 'meta:system');
  for (const g of manifest.groups) assert.ok(g.index >= g.read_index, `${g.name}: snapshot at or past its read point`);
  const before = { rows: acks.rows.filter((a) => a.at < cut), tables: acks.tables.filter((a) => a.at < cut) };
  assert.ok(
    before.rows.length > 0 && before.tables.length > 0,
    `load was acknowledged before the cut: ${JSON.stringify(before).slice(0, 200)}`,
  );

  t.diagnostic(
    `acknowledged before the cut: ${before.rows.length} rows, ${before.tables.length} tables; during the backup: ` +
      `${acks.rows.length - before.rows.length} rows, ${acks.tables.length - before.tables.length} tables`,
  );

  // Destroy every node's data.
  const down = await run(['cluster', 'down', '--dir', dir, '--wipe']);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(dir), false);

  // Refusals, nothing written: a flipped byte, a cut-off file, a cut that breaks the cross-group order.
  const target = join(root, 'restored');
  const flipped = join(root, 'flipped.kalam-backup');
  copyWith(b1, flipped, (b) => {
    const at = Math.floor(b.length / 2);
    b[at] = b[at]! ^ 0x20;
    return b;
  });
  await refused(flipped, target, pass, /not a usable backup: .*(sha256|malformed|not where)/);
  const cutOff = join(root, 'cut.kalam-backup');
  copyWith(b1, cutOff, (b) => b);
  truncateSync(cutOff, statSync(cutOff).size - 100);
  await refused(cutOff, target, pass, /not a usable backup: truncated/);
  const spliced = join(root, 'spliced.kalam-backup');
  await splice(b1, b0, spliced);
  await refused(spliced, target, pass, /the cut is inconsistent/);
  // A header byte, too (the file is no backup at all).
  const headless = join(root, 'headless.kalam-backup');
  copyWith(b1, headless, (b) => Buffer.concat([Buffer.from('X'), b.subarray(1)]));
  await refused(headless, target, pass, /header/);

  // Restore B1 into a new 2-node cluster, and start it.
  const restore = await run(['restore', b1, '--into', target, '--nodes', '2', '--password', pass, '--json']);
  assert.equal(restore.code, 0, restore.stderr);
  const started = await run(['cluster', 'up', '--dir', target, '--nodes', '2', '--json']);
  assert.equal(started.code, 0, started.stderr);
  const second = JSON.parse(started.stdout) as ClusterStatus;
  trackPids(pidsOf(second));
  const api = second.nodes[0]!.apiUrl;

  const ids = new Set((await sql(api, auth, 'SELECT id FROM app.kv')).rows.map((r) => r[0] as number));
  for (const id of [1, 2, 3]) assert.ok(ids.has(id), `row ${id} (flushed or not) restored`);
  const lost = before.rows.filter((a) => !ids.has(a.id));
  assert.deepEqual(lost, [], 'every row acknowledged before the cut is restored');
  for (const tbl of before.tables) {
    const r = await sql(api, auth, `SELECT COUNT(*) AS n FROM ${tbl.name}`);
    assert.equal(r.status, 200, `${tbl.name}: ${JSON.stringify(r)}`);
    assert.deepEqual(r.rows, [[1]], `${tbl.name} and its row restored`);
  }
  // Every table the restored catalog lists answers (no rows of a table meta does not know, and the reverse).
  const listed = await sql(api, auth, "SELECT table_name FROM system.tables WHERE namespace_id = 'app'");
  assert.equal(listed.status, 200);
  for (const [name] of listed.rows) {
    assert.equal((await sql(api, auth, `SELECT COUNT(*) FROM app.${String(name)}`)).status, 200, String(name));
  }
  // The new membership, everywhere.
  const nodes = await sql(api, auth, 'SELECT node_id, state FROM system.cluster_nodes ORDER BY node_id');
  assert.deepEqual(nodes.rows, [
    [1, 'voter'],
    [2, 'voter'],
  ]);
  const s = await status(target);
  assert.deepEqual([...new Set(s.groups.map((g) => g.voters.join(',')))], ['1,2']);
  // Users and passwords are the backup's; the cluster takes writes again.
  const login = await fetch(`${api}/v1/api/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'alice-pw-1' }),
  });
  assert.equal(login.status, 200, 'alice logs in with her backed-up password');
  await login.body?.cancel();
  assert.equal((await sql(second.nodes[1]!.apiUrl, auth, "INSERT INTO app.kv (id, v) VALUES (4, 'four')")).status, 200);
  assert.deepEqual((await sql(api, auth, 'SELECT v FROM app.kv WHERE id = 4')).rows, [['four']]);
  assert.equal((await run(['cluster', 'down', '--dir', target])).code, 0);
});

test('a standalone node backs up through --url and restores into a 3-node cluster that takes writes', async (t) => {
  const node = await StandaloneNode.start();
  t.after(() => node.close());
  const { dir, track: trackPids } = tempCluster(t, 'backup-standalone');
  const auth = basic('root', ROOT_PASSWORD);
  const rows = await sql(
    node.apiUrl,
    auth,
    'CREATE NAMESPACE app; CREATE SHARED TABLE app.kv (id BIGINT PRIMARY KEY); INSERT INTO app.kv (id) VALUES (7); ' +
      'CREATE SHARED TABLE app.c (k BIGINT PRIMARY KEY, n BIGINT); INSERT INTO app.c (k, n) VALUES (1, 0)',
  );
  assert.equal(rows.status, 200, JSON.stringify(rows));
  // A write under a client session before the backup: the restored cluster must remember it (README "Client sessions").
  const session = { client_session: { client_id: 'backup-1', created_ms: Date.now(), seq: 1, acked: 0 } };
  const bump = 'UPDATE app.c SET n = n + 1 WHERE k = 1';
  assert.deepEqual((await sql(node.apiUrl, auth, bump, session)).clientSession, { seq: 1, replayed: false });
  const file = join(dirname(dir), 'standalone.kalam-backup');
  const backup = await run(['backup', '--url', node.apiUrl, '--password', ROOT_PASSWORD, '--to', file]);
  assert.equal(backup.code, 0, backup.stderr);
  await node.close();
  const restore = await run(['restore', file, '--into', dir, '--nodes', '3', '--password', ROOT_PASSWORD]);
  assert.equal(restore.code, 0, restore.stderr);
  const up = await run(['cluster', 'up', '--dir', dir, '--nodes', '3', '--json']);
  assert.equal(up.code, 0, up.stderr);
  const s = JSON.parse(up.stdout) as ClusterStatus;
  trackPids(pidsOf(s));
  const api = s.nodes[2]!.apiUrl;
  assert.equal((await sql(api, auth, 'INSERT INTO app.kv (id) VALUES (8)')).status, 200);
  assert.deepEqual((await sql(s.nodes[0]!.apiUrl, auth, 'SELECT id FROM app.kv ORDER BY id')).rows, [[7], [8]]);
  const retried = await sql(api, auth, bump, session);
  assert.deepEqual(retried.clientSession, { seq: 1, replayed: true }, 'the session came with the backup');
  assert.deepEqual((await sql(s.nodes[0]!.apiUrl, auth, 'SELECT n FROM app.c')).rows, [[1]]);
  assert.equal((await run(['cluster', 'down', '--dir', dir])).code, 0);
});
