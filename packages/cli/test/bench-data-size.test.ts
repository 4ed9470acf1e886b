/**
 * bench/data-size in a tiny run (2,000 rows of 1 KB, snapshots every 2 entries, so the wiped follower's groups are
 * compacted on the leaders well past where it restarts): the report has its table (one row under its columns), the
 * load, the catch-up with every node's RSS, and the count — and the follower that was stopped, wiped and restarted
 * counts exactly the rows the loader had acknowledged, and the small rows written during its catch-up. No figure
 * (time, rows/s, MB) is asserted beyond being there: timings belong in bench/results, never in a test. The script
 * removes its nodes and folders itself; the generous timeout only bounds a hung run (it then gets SIGTERM and cleans up).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';

interface RssFigure {
  readonly pid: number;
  readonly peakMb: number | null;
  readonly lastMb: number | null;
}

interface DataSizeReport {
  readonly bench: string;
  readonly columns: { key: string; title: string }[];
  readonly rows: Record<string, unknown>[];
  readonly load: {
    rowsAcknowledged: number;
    insertsFailed: number;
    elections: number;
    rssMb: Record<string, RssFigure>;
    shard: string;
  };
  readonly catchUp: {
    node: number;
    seconds: number;
    secondsPerGB: number | null;
    rssMb: Record<string, RssFigure>;
    writes: number;
    writeMsMax: number | null;
  };
  readonly count: {
    node: number;
    bulkAcknowledged: number;
    bulkCounted: number;
    sideAcknowledged: number;
    sideSent: number;
    sideCounted: number;
    matches: boolean;
  };
  readonly resultsFile: string | null;
}

const ROWS = 2_000;

test('data-size, tiny: the wiped and restarted follower counts every acknowledged row; the report has its shape', () => {
  const script = join(repoRoot, 'bench/data-size/run.mjs');
  const r = spawnSync(
    process.execPath,
    [script, '--quick', '--json', '--rows', String(ROWS), '--snapshot-threshold', '2'],
    { encoding: 'utf8', timeout: 180_000 },
  );
  assert.equal(r.status, 0, `exit ${String(r.status)} (${String(r.signal)}):\n${r.stderr.slice(-3000)}`);
  const report = JSON.parse(r.stdout.trimEnd().split('\n').pop() ?? '') as DataSizeReport;

  assert.equal(report.bench, 'data-size');
  assert.equal(report.resultsFile, null, '--quick writes no results file');
  assert.equal(report.rows.length, 1);
  const row = report.rows[0]!;
  assert.deepEqual(Object.keys(row).sort(), report.columns.map((c) => c.key).sort(), 'one cell per column');
  assert.equal(row['snapshotThreshold'], 2);

  assert.equal(report.load.rowsAcknowledged, ROWS, 'every INSERT of the load acknowledged');
  assert.equal(report.load.insertsFailed, 0);
  assert.match(report.load.shard, /^data:user:/);
  for (const name of ['node 1', 'node 2', 'node 3']) {
    assert.ok((report.load.rssMb[name]?.peakMb ?? 0) > 0, `${name}: a peak RSS during the load`);
    assert.ok((report.catchUp.rssMb[name]?.peakMb ?? 0) > 0, `${name}: a peak RSS during the catch-up`);
  }
  assert.ok([2, 3].includes(report.catchUp.node), 'a follower other than node 1 (the writers go through node 1)');
  assert.notEqual(
    report.catchUp.rssMb[`node ${report.catchUp.node}`]?.pid,
    report.load.rssMb[`node ${report.catchUp.node}`]?.pid,
    'the rejoined node is a new process',
  );
  assert.ok(report.catchUp.seconds > 0);
  assert.ok(report.catchUp.writes > 0, 'a client wrote during the catch-up');
  assert.equal(typeof report.catchUp.writeMsMax, 'number');

  const c = report.count;
  assert.equal(c.node, report.catchUp.node, 'counted on the rejoined node');
  assert.equal(c.bulkCounted, c.bulkAcknowledged, 'the rejoined node has every acknowledged row of the load');
  assert.ok(c.sideCounted >= c.sideAcknowledged && c.sideCounted <= c.sideSent, JSON.stringify(c));
  assert.equal(c.matches, true);
});
