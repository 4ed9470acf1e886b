/**
 * bench/scale in a tiny run (8 clients for 2 s, INSERTs and point SELECTs in turn): the report has its table (one row
 * under its columns), every node's peak and end RSS, and failures tallied by code that add up to the errors — and no
 * client's SELECT missed a row that client had written (read-your-writes through any node). No figure is asserted:
 * timings belong in bench/results. The script removes its nodes and folders itself; the timeout only bounds a hung run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';

interface ScaleReport {
  readonly bench: string;
  readonly columns: { key: string; title: string }[];
  readonly rows: Record<string, unknown>[];
  readonly requests: number;
  readonly errors: number;
  readonly failures: Record<string, number>;
  readonly rssMb: Record<string, { peakMb: number | null; lastMb: number | null }>;
  readonly resultsFile: string | null;
}

test('scale, tiny and mixed: the report has its shape, and no SELECT missed a row its client wrote', () => {
  const script = join(repoRoot, 'bench/scale/run.mjs');
  const args = [script, '--quick', '--json', '--clients', '8', '--duration', '2', '--op', 'mixed'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `exit ${String(r.status)} (${String(r.signal)}):\n${r.stderr.slice(-3000)}`);
  const report = JSON.parse(r.stdout.trimEnd().split('\n').pop() ?? '') as ScaleReport;

  assert.equal(report.bench, 'scale');
  assert.equal(report.resultsFile, null, '--quick writes no results file');
  assert.equal(report.rows.length, 1);
  assert.deepEqual(Object.keys(report.rows[0]!).sort(), report.columns.map((c) => c.key).sort(), 'one cell per column');
  assert.equal(report.rows[0]!['clients'], 8);
  assert.ok(report.requests > 0, 'requests were answered in the window');
  for (const name of ['node 1', 'node 2', 'node 3']) {
    assert.ok((report.rssMb[name]?.peakMb ?? 0) > 0, `${name}: a peak RSS`);
    assert.ok((report.rssMb[name]?.lastMb ?? 0) > 0, `${name}: an RSS at the end`);
  }
  const tallied = Object.values(report.failures).reduce((a, b) => a + b, 0);
  assert.equal(report.errors, tallied, 'every failure has a code');
  const missed = Object.keys(report.failures).filter((code) => code.includes('SELECT of a written row'));
  assert.deepEqual(missed, [], JSON.stringify(report.failures));
});
