/**
 * bench/roles in a tiny run (1 client, 1 s windows): the report names one leader of the user's shard and two followers
 * in each cluster setup, one standalone node, every node's CPU per INSERT (in all, and its main thread's, no more
 * than in all), and no failed INSERT; the script checks itself that the shard's leader did not move (it exits 1 if it
 * did). No figure is asserted: timings belong in bench/results. The script removes its nodes and folders itself; the
 * timeout only bounds a hung run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';

interface NodeCost {
  readonly node: number;
  readonly role: string;
  readonly cpuMsPerOp: number | null;
  readonly mainMsPerOp: number | null;
}

interface RolesReport {
  readonly bench: string;
  readonly columns: { key: string; title: string }[];
  readonly rows: Record<string, unknown>[];
  readonly windows: { setup: string; clients: number; opsPerS: number; errors: number; nodes: NodeCost[] }[];
  readonly resultsFile: string | null;
}

test('roles, tiny: each setup reports every node by its part, with its CPU per INSERT', () => {
  const script = join(repoRoot, 'bench/roles/run.mjs');
  const args = [script, '--quick', '--json', '--clients', '1', '--duration', '1'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `exit ${String(r.status)} (${String(r.signal)}):\n${r.stderr.slice(-3000)}`);
  const report = JSON.parse(r.stdout.trimEnd().split('\n').pop() ?? '') as RolesReport;

  assert.equal(report.bench, 'roles');
  assert.equal(report.resultsFile, null, '--quick writes no results file');
  assert.deepEqual(
    report.windows.map((w) => w.setup),
    ['to the leader', 'through a follower', 'standalone'],
  );
  for (const row of report.rows) {
    assert.deepEqual(Object.keys(row).sort(), report.columns.map((c) => c.key).sort(), 'one cell per column');
  }
  for (const w of report.windows) {
    assert.ok(w.opsPerS > 0, `${w.setup}: INSERTs were answered`);
    assert.equal(w.errors, 0, `${w.setup}: no INSERT failed`);
    const roles = w.nodes.map((n) => n.role).sort();
    const expected = w.setup === 'standalone' ? ['standalone'] : ['follower', 'follower', 'leader'];
    assert.deepEqual(roles, expected, `${w.setup}: the nodes by their part`);
    for (const n of w.nodes) {
      assert.ok(n.cpuMsPerOp !== null && n.cpuMsPerOp > 0, `${w.setup}, node ${n.node}: CPU per INSERT`);
      assert.ok(
        n.mainMsPerOp !== null && n.mainMsPerOp >= 0 && n.mainMsPerOp <= n.cpuMsPerOp + 1e-9,
        `${w.setup}, node ${n.node}: the main thread's share is part of the whole`,
      );
    }
  }
});
