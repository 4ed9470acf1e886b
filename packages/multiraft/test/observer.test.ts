// What this proves: RaftManager tells its observer (RaftManagerOptions.observer, what a node's GET /metrics
// counts) every proposal's outcome where the proposal was made — a forwarded one on the follower, not again on the
// leader — with the MultiRaftError code when it fails; the time of its durable log writes; and its apply batches,
// whose entries add up to what its state machine applied. How: three RaftManagers in this process on loopback ports
// chosen at run time, one group each, each with a recording observer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProposalOutcome, RaftObserver } from '../src/index.js';
import { kvCommand } from './support/kv-state-machine.js';
import { GROUP, leaderOf, oneGroupCluster } from './support/managers.js';

class Recorder implements RaftObserver {
  readonly outcomes: ProposalOutcome[] = [];
  readonly writesMs: number[] = [];
  appliedEntries = 0;
  applyBatches = 0;
  logWritten(ms: number): void {
    this.writesMs.push(ms);
  }
  applied(entries: number, ms: number): void {
    assert.ok(entries > 0 && ms >= 0, `a batch of ${entries} entries in ${ms} ms`);
    this.appliedEntries += entries;
    this.applyBatches++;
  }
  proposed(outcome: ProposalOutcome): void {
    this.outcomes.push(outcome);
  }
  count(outcome: ProposalOutcome): number {
    return this.outcomes.filter((o) => o === outcome).length;
  }
}

test('the observer hears each proposal where it was made, each log write and each apply batch', async (t) => {
  const recorders = [new Recorder(), new Recorder(), new Recorder()];
  const { machines, managers, start } = await oneGroupCluster(t, 'observer', undefined, recorders);
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  const follower = managers.find((m) => m !== leader)!;
  const [onLeader, onFollower] = [leader, follower].map((m) => recorders[managers.indexOf(m)]!);
  const leaderOk = onLeader!.count('ok');
  for (let i = 0; i < 10; i++) await leader.propose(GROUP, kvCommand(`l${i}`, 'x'));
  for (let i = 0; i < 5; i++) await follower.propose(GROUP, kvCommand(`f${i}`, 'x'));
  assert.equal(onLeader!.count('ok'), leaderOk + 10, 'the forwarded proposals are not counted again on the leader');
  assert.equal(onFollower!.count('ok'), 5);
  await assert.rejects(leader.propose(999, kvCommand('k', 'v')), { code: 'UNKNOWN_GROUP' });
  assert.equal(onLeader!.count('UNKNOWN_GROUP'), 1);

  // Every node applies all 15 (and the leader's no-op entries): its batches add up to its state machine's index.
  const deadline = Date.now() + 10_000;
  while (machines.some((sm) => sm.get('f4') === null) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  managers.forEach((m, i) => {
    const r = recorders[i]!;
    assert.equal(machines[i]!.get('f4'), 'x', `node ${m.nodeId} applied everything`);
    assert.ok(r.writesMs.length > 0 && r.writesMs.every((ms) => ms >= 0), `node ${m.nodeId} log writes`);
    assert.ok(r.applyBatches > 0 && r.applyBatches <= r.appliedEntries);
    assert.equal(r.appliedEntries, machines[i]!.appliedIndex(), `node ${m.nodeId}: batches add up to the index`);
  });

  await leader.stop();
  await assert.rejects(leader.propose(GROUP, kvCommand('k', 'v')), { code: 'SHUTTING_DOWN' });
  assert.equal(onLeader!.count('SHUTTING_DOWN'), 1);
});
