/**
 * The expansion of `kalam sim` options into runs: cluster size by seed parity, so that `--seed S` replays the
 * cluster that `--seeds N` ran for S, and replay commands that leave out defaults only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandPlan, nodesForSeed, replayCommand } from '../src/sim/plan.js';

const base = { seeds: 3, firstSeed: 7, nodes: undefined, groups: 4, ticks: 1000, plantedBug: undefined, replay: false };

test('without --nodes, odd seeds run 3 nodes and even seeds 5', () => {
  assert.deepEqual(
    expandPlan(base).map((r) => [r.seed, r.nodes]),
    [
      [7, 3],
      [8, 5],
      [9, 3],
    ],
  );
  assert.equal(nodesForSeed(0), 5);
});

test('--nodes fixes the size of every run; plantedBug is set only when given', () => {
  const runs = expandPlan({ ...base, nodes: 5 });
  assert.deepEqual(
    runs.map((r) => r.nodes),
    [5, 5, 5],
  );
  assert.equal('plantedBug' in (runs[0] ?? {}), false);
  assert.equal(expandPlan({ ...base, plantedBug: 'grantSecondVote' })[0]?.plantedBug, 'grantSecondVote');
});

test('a replay command names seed and nodes, and groups, ticks and a planted bug when not the defaults', () => {
  const defaults = { groups: 4, ticks: 1000 };
  assert.equal(replayCommand({ seed: 9, nodes: 3, groups: 4, ticks: 1000 }, defaults), 'kalam sim --seed 9 --nodes 3');
  assert.equal(
    replayCommand({ seed: 9, nodes: 5, groups: 2, ticks: 50, plantedBug: 'skipUpToDateCheck' }, defaults),
    'kalam sim --seed 9 --nodes 5 --groups 2 --ticks 50 --plant-bug skipUpToDateCheck',
  );
});
