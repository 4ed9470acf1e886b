/**
 * The pure parts of bench/etcd (Kalam beside etcd), with no etcd and no timing: the v3 gateway's request bodies
 * and the reading of its replies (the replies are ones etcd 3.4.23 sent), the Kalam SQL reply, the interleaved
 * window order, medians and the Kalam/etcd ratio of the table, and the exit 2 with one line when etcd is not
 * installed — pointed at a binary that does not exist through KALAM_BENCH_ETCD_BIN, directly and through
 * `kalam bench sql --vs etcd`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExitCode } from '../src/errors.js';
import { runCli } from '../src/main.js';
import { repoRoot } from '../src/paths.js';
import { bufferedContext } from './support/fakes.js';

interface Request {
  readonly path: string;
  readonly body: string;
}

interface Gateway {
  TXN_OPS_MAX: number;
  putRequest(key: string, value: string): Request;
  rangeRequest(key: string): Request;
  txnPutsRequest(pairs: [string, string][]): Request;
  parsePutReply(status: number, text: string): { revision: number };
  parseRangeReply(status: number, text: string): { count: number; kvs: { key: string; value: string }[] };
  parseTxnPutsReply(status: number, text: string, puts: number): { puts: number; revision: number };
  parseStatusReply(status: number, text: string): { memberId: string; leaderId: string; isLeader: boolean };
}

interface Window {
  rep: number;
  op: string;
  clients: number;
  system: string;
  perSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number;
  cpuMsPerUnit?: number | null;
  coresBusy?: number | null;
}

interface Compare {
  percentile(sorted: number[], p: number): number | null;
  median(values: (number | null)[]): number | null;
  ratio(kalam: number | null, etcd: number | null): number | null;
  windowStats(w: {
    latenciesMs: number[];
    units: number;
    seconds: number;
    errors: number;
    cpuMs?: number | null;
  }): Omit<Window, 'rep' | 'op' | 'clients' | 'system'> & { requests: number };
  interleavedPlan(o: { reps: number; clients: number[] }): Pick<Window, 'rep' | 'op' | 'clients' | 'system'>[];
  summarize(windows: Window[]): Map<string, unknown>;
  comparisonRows(summary: Map<string, unknown>, o: { clients: number[] }): Record<string, unknown>[];
  parseClients(text: string, max: number): number[];
}

interface KalamSql {
  sqlReplyRows(status: number, text: string): unknown[][];
}

const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(repoRoot, path)).href)) as T;
const gateway = await load<Gateway>('bench/etcd/gateway.mjs');
const compare = await load<Compare>('bench/etcd/compare.mjs');
const kalamSql = await load<KalamSql>('bench/sql/kalam.mjs');

const HEADER =
  '"header":{"cluster_id":"16128400632968936350","member_id":"17010963214147749224","revision":"3","raft_term":"2"}';

test('gateway requests carry base64 keys and values; a range is linearizable; a txn holds 1 to 128 puts', () => {
  const put = gateway.putRequest('bench/c0/7', 'xy');
  assert.equal(put.path, '/v3/kv/put');
  assert.deepEqual(JSON.parse(put.body), { key: 'YmVuY2gvYzAvNw==', value: 'eHk=' });
  const range = gateway.rangeRequest('bench/c0/7');
  assert.equal(range.path, '/v3/kv/range');
  assert.deepEqual(JSON.parse(range.body), { key: 'YmVuY2gvYzAvNw==' }, 'no serializable flag: linearizable');
  const txn = gateway.txnPutsRequest([
    ['a', '1'],
    ['b', '2'],
  ]);
  assert.equal(txn.path, '/v3/kv/txn');
  assert.deepEqual(JSON.parse(txn.body), {
    success: [{ requestPut: { key: 'YQ==', value: 'MQ==' } }, { requestPut: { key: 'Yg==', value: 'Mg==' } }],
  });
  assert.equal(gateway.TXN_OPS_MAX, 128);
  assert.throws(() => gateway.txnPutsRequest([]), RangeError);
  const pairs = Array.from({ length: 129 }, (_, i): [string, string] => [`k${i}`, 'v']);
  assert.throws(() => gateway.txnPutsRequest(pairs), RangeError);
});

test('gateway replies: revision, decoded kvs, a range that matched nothing, a txn of every put, leader', () => {
  assert.deepEqual(gateway.parsePutReply(200, `{${HEADER}}`), { revision: 3 });
  const found = gateway.parseRangeReply(
    200,
    `{${HEADER},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}`,
  );
  assert.equal(found.count, 1);
  assert.deepEqual(found.kvs, [{ key: 'foo', value: 'bar' }]);
  const none = gateway.parseRangeReply(200, `{${HEADER}}`);
  assert.equal(none.count, 0, 'etcd leaves count and kvs out of a range that matched nothing');
  assert.deepEqual(none.kvs, []);
  const txn = `{${HEADER},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}},{"response_put":{"header":{"revision":"3"}}}]}`;
  assert.deepEqual(gateway.parseTxnPutsReply(200, txn, 2), { revision: 3, puts: 2 });
  assert.throws(() => gateway.parseTxnPutsReply(200, txn, 3), /2 of 3 puts answered/);
  assert.throws(() => gateway.parseTxnPutsReply(200, txn.replace('true', 'false'), 2), /succeeded=false/);
  const status = `{${HEADER},"version":"3.4.23","leader":"17010963214147749224","raftIndex":"4"}`;
  assert.deepEqual(
    { ...gateway.parseStatusReply(200, status) },
    { memberId: '17010963214147749224', leaderId: '17010963214147749224', version: '3.4.23', isLeader: true },
  );
  assert.equal(gateway.parseStatusReply(200, status.replace('"leader":"1701', '"leader":"9901')).isLeader, false);
  assert.equal(gateway.parseStatusReply(200, `{${HEADER}}`).leaderId, '0', 'no leader known');
});

test('gateway errors keep etcd message and code; a reply with no revision or no JSON is an error', () => {
  const refused =
    '{"error":"etcdserver: too many operations in txn request","message":"etcdserver: too many operations in txn request","code":3}';
  assert.throws(
    () => gateway.parsePutReply(400, refused),
    (e: Error & { httpStatus?: number; grpcCode?: number }) =>
      e.name === 'EtcdReplyError' &&
      e.message === 'etcd: etcdserver: too many operations in txn request' &&
      e.httpStatus === 400 &&
      e.grpcCode === 3,
  );
  assert.throws(() => gateway.parsePutReply(200, '{"header":{}}'), /no revision/);
  assert.throws(() => gateway.parsePutReply(502, 'Bad Gateway'), /replied 502 with no JSON/);
});

test('a Kalam SQL reply gives the last statement rows, an error reply its code (a field) and message', () => {
  const ok = '{"status":"success","results":[{"schema":[],"rows":[["x"]],"row_count":1}],"took":1}';
  assert.deepEqual(kalamSql.sqlReplyRows(200, ok), [['x']]);
  const denied = '{"status":"error","results":[],"error":{"code":"UNAUTHORIZED","message":"bad token","details":null}}';
  assert.throws(() => kalamSql.sqlReplyRows(401, denied), {
    message: 'kalam: UNAUTHORIZED: bad token',
    code: 'UNAUTHORIZED',
  });
});

test('percentile, median and ratio', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(compare.percentile(sorted, 50), 51);
  assert.equal(compare.percentile(sorted, 99), 100);
  assert.equal(compare.percentile([], 50), null);
  assert.equal(compare.median([5, 1, 3]), 3);
  assert.equal(compare.median([4, 1, 3, 2]), 2.5);
  assert.equal(compare.median([null, 7]), 7, 'a window with no latency does not count');
  assert.equal(compare.median([]), null);
  assert.equal(compare.ratio(500, 2000), 0.25);
  assert.equal(compare.ratio(500, 0), null, 'no ratio to an etcd that did nothing');
});

test('a window: units per second over its length, p50 and p99 of its latencies', () => {
  const stats = compare.windowStats({ latenciesMs: [4, 1, 3, 2], units: 4000, seconds: 2, errors: 1 });
  assert.deepEqual(stats, {
    requests: 4,
    perSec: 2000,
    p50Ms: 3,
    p99Ms: 4,
    errors: 1,
    cpuMsPerUnit: null,
    coresBusy: null,
  });
  assert.throws(() => compare.windowStats({ latenciesMs: [], units: 0, seconds: 0, errors: 0 }), RangeError);
});

test('windows interleave the systems at each client count and op, the order rotating with the repetition', () => {
  const plan = compare.interleavedPlan({ reps: 2, clients: [1, 16] });
  const text = plan.map((w) => `${w.rep}:${w.op}:${w.clients}:${w.system}`);
  assert.deepEqual(text.slice(0, 7), [
    '1:write:1:etcd',
    '1:write:1:kalam-cluster',
    '1:write:1:kalam-standalone',
    '1:read:1:etcd',
    '1:read:1:kalam-cluster',
    '1:read:1:kalam-standalone',
    '1:write:16:etcd',
  ]);
  assert.deepEqual(text.slice(12, 15), ['1:bulk:1:etcd', '1:bulk:1:kalam-cluster', '1:bulk:1:kalam-standalone']);
  assert.deepEqual(text.slice(15, 18), ['2:write:1:kalam-cluster', '2:write:1:kalam-standalone', '2:write:1:etcd']);
  assert.equal(plan.length, 2 * (2 * 2 * 3 + 3));
});

test('the table: medians over repetitions, Kalam beside etcd at the same op and client count, with the ratio', () => {
  const w = (system: string, op: string, clients: number, perSec: number, p50Ms: number, rep: number): Window => ({
    rep,
    op,
    clients,
    system,
    perSec,
    p50Ms,
    p99Ms: p50Ms * 4,
    errors: system === 'etcd' ? 0 : 1,
  });
  const windows = [
    ...[1, 2, 3].flatMap((rep) => [
      w('etcd', 'write', 16, [1800, 2000, 1900][rep - 1]!, [8, 9, 10][rep - 1]!, rep),
      w('kalam-cluster', 'write', 16, [600, 500, 700][rep - 1]!, [20, 30, 25][rep - 1]!, rep),
      w('kalam-standalone', 'write', 16, 1900, 7, rep),
    ]),
    w('etcd', 'bulk', 1, 16000, 6, 1),
    w('kalam-cluster', 'bulk', 1, 4000, 200, 1),
  ];
  const rows = compare.comparisonRows(compare.summarize(windows), { clients: [16] });
  assert.equal(rows.length, 3, 'write × cluster and standalone, bulk × cluster (no standalone bulk window)');
  assert.deepEqual(rows[0], {
    op: 'write',
    clients: 16,
    kalam: 'cluster',
    unit: 'ops/s',
    kalamPerSec: 600,
    etcdPerSec: 1900,
    ratio: 600 / 1900,
    kalamP50Ms: 25,
    etcdP50Ms: 9,
    kalamP99Ms: 100,
    etcdP99Ms: 36,
    kalamCpuMsPerUnit: null,
    etcdCpuMsPerUnit: null,
    kalamCores: null,
    etcdCores: null,
    errors: 3,
  });
  assert.equal(rows[1]?.['kalam'], 'standalone');
  assert.equal(rows[1]?.['ratio'], 1);
  assert.deepEqual([rows[2]?.['op'], rows[2]?.['unit'], rows[2]?.['ratio']], ['bulk', 'rows|keys/s', 0.25]);
});

test('--clients: integers in range, no duplicates', () => {
  assert.deepEqual(compare.parseClients('1,16,64', 256), [1, 16, 64]);
  assert.deepEqual(compare.parseClients('4, 4', 256), [4]);
  for (const bad of ['', '0', '1,x', '2.5', '300']) assert.throws(() => compare.parseClients(bad, 256), RangeError);
});

const MISSING_ETCD = '/nonexistent/kalam-test/etcd';

test('no etcd: the script exits 2 with one line on stderr, before starting anything', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bench/etcd/run.mjs'), '--quick'], {
    encoding: 'utf8',
    env: { ...process.env, KALAM_BENCH_ETCD_BIN: MISSING_ETCD },
    timeout: 30_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^bench etcd: etcd is not installed \(`\/nonexistent\/kalam-test\/etcd` cannot be run\): apt-get install -y etcd-server[^\n]*\n$/,
  );
});

test('kalam bench sql --vs etcd without etcd exits 2 and passes the reason on; --reps goes only with --vs', async () => {
  const saved = process.env['KALAM_BENCH_ETCD_BIN'];
  process.env['KALAM_BENCH_ETCD_BIN'] = MISSING_ETCD;
  try {
    const { ctx, buffers } = bufferedContext();
    assert.equal(await runCli(['bench', 'sql', '--vs', 'etcd', '--reps', '2', '--clients', '1'], ctx), ExitCode.Usage);
    assert.match(buffers.stderr, /^bench etcd: etcd is not installed .*etcd-server/m);
    assert.match(buffers.stderr, /error: bench etcd could not run here \(exit 2\)/);
    assert.equal(buffers.stdout, '');
  } finally {
    if (saved === undefined) delete process.env['KALAM_BENCH_ETCD_BIN'];
    else process.env['KALAM_BENCH_ETCD_BIN'] = saved;
  }
  const { ctx, buffers } = bufferedContext();
  assert.equal(await runCli(['bench', 'raft-core', '--reps', '2'], ctx), ExitCode.Usage);
  assert.match(buffers.stderr, /error: --reps: only with --vs etcd/);
  const other = bufferedContext();
  assert.equal(await runCli(['bench', 'raft-core', '--vs', 'etcd'], other.ctx), ExitCode.Usage);
  assert.match(other.buffers.stderr, /error: --vs etcd compares the sql benchmark: kalam bench sql --vs etcd/);
});

test('CPU per op: a window with the servers CPU time gives ms per unit and cores busy; without it, null', () => {
  const stats = compare.windowStats({ latenciesMs: [1, 2], units: 400, seconds: 2, errors: 0, cpuMs: 1_000 });
  assert.equal(stats.cpuMsPerUnit, 2.5);
  assert.equal(stats.coresBusy, 0.5);
  const without = compare.windowStats({ latenciesMs: [1], units: 4, seconds: 1, errors: 0 });
  assert.equal(without.cpuMsPerUnit, null);
  assert.equal(without.coresBusy, null);
  const idle = compare.windowStats({ latenciesMs: [], units: 0, seconds: 1, errors: 0, cpuMs: 10 });
  assert.equal(idle.cpuMsPerUnit, null, 'no op, no CPU per op');
  const windows = [1, 2, 3].flatMap((rep) =>
    ['etcd', 'kalam-cluster'].map((system) => ({
      rep,
      op: 'write',
      clients: 16,
      system,
      perSec: 100,
      p50Ms: 1,
      p99Ms: 2,
      errors: 0,
      cpuMsPerUnit: system === 'etcd' ? rep * 0.1 : rep,
      coresBusy: 1.5,
    })),
  );
  const [row] = compare.comparisonRows(compare.summarize(windows), { clients: [16] });
  assert.equal(row!['kalamCpuMsPerUnit'], 2, 'the median over repetitions');
  assert.ok(Math.abs((row!['etcdCpuMsPerUnit'] as number) - 0.2) < 1e-9);
  assert.equal(row!['kalamCores'], 1.5);
});

test('cpuMs reads this process CPU time from /proc (Linux), and null for a process that is not there', async () => {
  const cpu = await load<{ cpuMs(pid: number): number | null; cpuMsOf(pids: number[]): number | null }>(
    'bench/cpu.mjs',
  );
  if (process.platform !== 'linux') return;
  const before = cpu.cpuMs(process.pid)!;
  const until = Date.now() + 200;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + 1);
  assert.ok(x > 0);
  const after = cpu.cpuMs(process.pid)!;
  assert.ok(after > before, `CPU time grew: ${before} → ${after} ms`);
  assert.equal(cpu.cpuMs(2 ** 22 + 12_345), null);
  assert.equal(cpu.cpuMsOf([process.pid, 2 ** 22 + 12_345]), null);
});
