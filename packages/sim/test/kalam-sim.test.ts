// What this proves: the Kalam-level simulator (whole clusters of real kalamdb state machines under crashes
// that roll data.db back to its last sync, partitions and a lossy network) is deterministic (one seed, one trace); clean seeds of
// 3 and 5 nodes converge to byte-equal state per group and leave a linearizable client history while doing
// real work under real faults; and it has teeth — each bug planted in the driver through the test-only
// switch is reported within a stated number of seeds, by the check that guards the broken property.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KalamPlantedBug } from '../src/index.js';
import { runKalamSimulation } from '../src/index.js';

test('one seed replays exactly: same trace hash, stats and verdict', async () => {
  const a = await runKalamSimulation({ seed: 7, nodes: 3, ticks: 400 });
  const b = await runKalamSimulation({ seed: 7, nodes: 3, ticks: 400 });
  const c = await runKalamSimulation({ seed: 8, nodes: 3, ticks: 400 });
  assert.equal(a.traceHash, b.traceHash);
  assert.deepEqual(a.stats, b.stats);
  assert.deepEqual(a.linearizability, b.linearizability);
  assert.notEqual(a.traceHash, c.traceHash);
});

test('clean seeds of 3 and 5 nodes converge and stay linearizable', async () => {
  let crashes = 0;
  let opsOk = 0;
  let writesOk = 0;
  let partitions = 0;
  let restoredOnBoot = 0;
  let installed = 0;
  let ddl = 0;
  let confChanges = 0;
  for (let seed = 1; seed <= 6; seed++) {
    const r = await runKalamSimulation({ seed, nodes: seed % 2 === 0 ? 5 : 3, ticks: 600 });
    assert.deepEqual(r.violations, [], `seed ${seed}`);
    assert.equal(r.linearizability.verdict, 'linearizable', `seed ${seed}`);
    assert.ok(r.linearizability.operations > 0, `seed ${seed}: no operation was checked`);
    crashes += r.stats.crashes;
    opsOk += r.stats.opsOk;
    writesOk += r.stats.writes + r.stats.cas;
    partitions += r.stats.partitions;
    restoredOnBoot += r.stats.snapshotsRestoredOnBoot;
    installed += r.stats.snapshotsInstalled;
    ddl += r.stats.ddlDuringFaults;
    confChanges += r.stats.confChangesAcked;
  }
  // The runs did real work under real faults, or passing would mean nothing.
  assert.ok(crashes > 5, `crashes ${crashes}`);
  assert.ok(confChanges > 10, `membership changes applied ${confChanges}`);
  assert.ok(partitions > 3, `partitions ${partitions}`);
  // A floor, not a figure: any change to what a snapshot holds shifts every history (snapshot format 6 moved these six
  // seeds from 521 to 491, while over seeds 1-30 the totals stayed within 1 %: 2,627 and 2,613).
  assert.ok(opsOk > 400, `ok calls ${opsOk}`);
  assert.ok(writesOk > 300, `writes and cas ${writesOk}`);
  // Snapshots from leaders are installed often; a restart restores a stored one only when a machine crash (data.db
  // back to its last sync) follows an install before the next sync — rare since compaction stores none ([M8] §3).
  assert.ok(installed > 5, `snapshots installed from leaders ${installed}`);
  assert.ok(restoredOnBoot > 0, `snapshots restored into a data.db on boot ${restoredOnBoot}`);
  assert.ok(ddl > 10, `schema changes and writes to new tables during the faults ${ddl}`);
});

/**
 * The stated bound: each planted bug is reported within this many seeds (alternating 3/5 nodes, 800 ticks) — the
 * driver's that only a state machine of real rows shows, and issue M6's two, brought back behind their switches.
 * (The core's bugs and the driver's other three are the Raft-level simulator's: simulator.test.ts.)
 */
// skipRestoreOnBoot and uncheckedCommands: 12 seeds since log compaction stopped storing snapshots ([M8] §3), which
// changed every trace. A restart now restores a stored snapshot only when a machine crash (data.db back to its last
// sync) follows a snapshot install before any group's next sync — a narrow window — where before every loss of
// data.db restored from raft.db's snapshots; and the careless client's statements that stop a node under
// uncheckedCommands come up first at seed 11 of the new traces (at seed 2 before). Both are first reported at seed 11.
// Since installs go a piece per turn and nodes crash between pieces, skipRestoreOnBoot also leaves a group whose
// install a crash cut short half installed and marked as such (data.db's mark): it never serves a read again, which the
// simulator reports as not converging (liveness) — at seed 2 of the new traces, before seed 11's digest mismatch.
// Since session clients increment counters too ([M11] §1, more statements in every trace), at seed 4.
const PLANTED: { bug: KalamPlantedBug; withinSeeds: number; invariants: string[] }[] = [
  { bug: 'skipRestoreOnBoot', withinSeeds: 12, invariants: ['state-digest', 'linearizability', 'liveness'] },
  { bug: 'applyForwardedTwice', withinSeeds: 8, invariants: ['linearizability', 'state-digest'] },
  { bug: 'uncheckedCommands', withinSeeds: 12, invariants: ['core-exception', 'node-stopped', 'internal-error'] },
  { bug: 'restoreDropsOtherTables', withinSeeds: 8, invariants: ['state-digest', 'linearizability', 'table-rows'] },
  // Every seed delivers some answered increments again; their answers are not replayed (or the counters run over).
  { bug: 'ignoreClientSessions', withinSeeds: 2, invariants: ['client-session', 'exactly-once'] },
];

for (const { bug, withinSeeds, invariants } of PLANTED) {
  test(`planted bug ${bug} is reported within ${withinSeeds} seeds`, async () => {
    let found: { seed: number; invariant: string } | undefined;
    for (let seed = 1; seed <= withinSeeds && found === undefined; seed++) {
      const r = await runKalamSimulation({ seed, nodes: seed % 2 === 0 ? 5 : 3, ticks: 800, plantedBug: bug });
      const v = r.violations[0];
      if (v !== undefined) found = { seed, invariant: v.invariant };
    }
    assert.ok(found, `${bug} went unnoticed for ${withinSeeds} seeds`);
    assert.ok(invariants.includes(found.invariant), `${bug} reported as ${found.invariant}`);
  });
}

test('options are validated', () => {
  assert.throws(() => void runKalamSimulation({ seed: 1, nodes: 4 as 3, ticks: 10 }), RangeError);
  assert.throws(() => void runKalamSimulation({ seed: -1, nodes: 3, ticks: 10 }), RangeError);
  assert.throws(() => void runKalamSimulation({ seed: 1, nodes: 3, ticks: 0 }), RangeError);
  assert.throws(() => void runKalamSimulation({ seed: 1, nodes: 3, ticks: 10, users: 0 }), RangeError);
  assert.throws(() => void runKalamSimulation({ seed: 1, nodes: 3, ticks: 10, numUserShards: 0 }), RangeError);
});
