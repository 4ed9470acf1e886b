// What this proves: the leader balance's decision (balance.ts, planLeaderMoves) — given the leaders per node a node
// knows of, the live voters, which peers are caught up on each group it leads, and the tolerance — moves nothing
// when the spread is within the band, hands groups from an overloaded node to the peer that leads the fewest, never
// to a dead or lagging peer, at most `movesMax` per round, nothing while draining; and, run round after round by
// every node of a simulated cluster from seeded random spreads, it reaches the band and then stops (no cycling).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Prng, nodeId } from '@kalam/raft';
import type { NodeId } from '@kalam/raft';
import { leaderShareBand, planLeaderMoves } from '../src/index.js';
import type { BalanceInput, LeaderMove } from '../src/index.js';

const n1 = nodeId(1);
const n2 = nodeId(2);
const n3 = nodeId(3);

/** Node `self` of three leads `led` groups (ids 0…led−1), every peer caught up on every one of them. */
function input(self: NodeId, counts: Record<number, number>, over: Partial<BalanceInput> = {}): BalanceInput {
  const live = over.live ?? [n1, n2, n3];
  const led = counts[self] ?? 0;
  return {
    self,
    groupCount: 36,
    live,
    leaderCounts: new Map(Object.entries(counts).map(([id, c]) => [nodeId(Number(id)), c])),
    movable: Array.from({ length: led }, (_, i) => ({ groupId: i, caughtUp: live.filter((id) => id !== self) })),
    tolerance: 1,
    movesMax: 3,
    draining: false,
    leaving: [],
    ...over,
  };
}

test('the band is [⌊G/N⌋ − T, ⌈G/N⌉ + T], never below 0', () => {
  assert.deepEqual(leaderShareBand(36, 3, 1), { min: 11, max: 13 });
  assert.deepEqual(leaderShareBand(36, 3, 0), { min: 12, max: 12 });
  assert.deepEqual(leaderShareBand(36, 2, 1), { min: 17, max: 19 });
  assert.deepEqual(leaderShareBand(8, 5, 0), { min: 1, max: 2 });
  assert.deepEqual(leaderShareBand(3, 5, 2), { min: 0, max: 3 });
  assert.throws(() => leaderShareBand(36, 0, 1), RangeError);
  assert.throws(() => leaderShareBand(36, 3, -1), RangeError);
});

test('balanced: nothing moves (12/12/12, and 13/12/11 within a tolerance of 1)', () => {
  for (const self of [n1, n2, n3]) {
    assert.deepEqual(planLeaderMoves(input(self, { 1: 12, 2: 12, 3: 12 })), []);
    assert.deepEqual(planLeaderMoves(input(self, { 1: 13, 2: 12, 3: 11 })), []);
    assert.deepEqual(planLeaderMoves(input(self, { 1: 12, 2: 12, 3: 12 }, { tolerance: 0 })), []);
  }
});

test('at tolerance 0 a node one over its share gives one group to the peer one under', () => {
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 13, 2: 12, 3: 11 }, { tolerance: 0 })), [{ groupId: 0, to: n3 }]);
  // 13/13/10 at a tolerance of 1: nobody is over 13, but node 3 is under 11, so a node just over its share gives.
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 13, 2: 13, 3: 10 })), [{ groupId: 0, to: n3 }]);
  // … but only a node above its share gives: at 12/14/10 node 2 does, node 1 (at its share) does not.
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 12, 2: 14, 3: 10 })), []);
  // One move is enough: 12/13/11 is within the band.
  assert.deepEqual(planLeaderMoves(input(n2, { 1: 12, 2: 14, 3: 10 })), [{ groupId: 0, to: n3 }]);
});

test('one node leading everything hands groups over, the fewest-led peer first, at most movesMax per round', () => {
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 36 })), [
    { groupId: 0, to: n2 },
    { groupId: 1, to: n3 },
    { groupId: 2, to: n2 },
  ]);
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 27, 2: 9 })), [
    { groupId: 0, to: n3 },
    { groupId: 1, to: n3 },
    { groupId: 2, to: n3 },
  ]);
  assert.equal(planLeaderMoves(input(n1, { 1: 36 }, { movesMax: 1 })).length, 1);
  assert.equal(planLeaderMoves(input(n1, { 1: 36 }, { movesMax: 10 })).length, 10);
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 36 }, { movesMax: 0 })), []);
  // A node that leads little moves nothing, however unbalanced the others are.
  assert.deepEqual(planLeaderMoves(input(n2, { 1: 27, 2: 9 })), []);
  assert.deepEqual(planLeaderMoves(input(n3, { 1: 27, 2: 9 })), []);
});

test('planned moves stop at the band: 14/11/11 moves one, not two', () => {
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 14, 2: 11, 3: 11 }, { movesMax: 10 })), [{ groupId: 0, to: n2 }]);
});

test('a dead peer is never chosen, and the share is counted over the live voters only', () => {
  // Node 3 is down: two live voters, a share of 18 ± 1. 20/16 moves one to node 2; 19/17 is balanced.
  const live = [n1, n2];
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 20, 2: 16 }, { live })), [{ groupId: 0, to: n2 }]);
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 19, 2: 17 }, { live })), []);
  // Even when the dead node is still named as leading nothing and everyone is marked caught up on it.
  const dead = planLeaderMoves({
    ...input(n1, { 1: 36, 3: 0 }, { live, movesMax: 10 }),
    movable: Array.from({ length: 36 }, (_, i) => ({ groupId: i, caughtUp: [n2, n3] })),
  });
  assert.equal(dead.length, 10);
  assert.ok(
    dead.every((m) => m.to === n2),
    JSON.stringify(dead),
  );
  // Alone: nobody to hand anything to.
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 36 }, { live: [n1] })), []);
});

test('a lagging peer is never chosen: groups go to caught-up peers, or stay', () => {
  // Node 3 leads nothing but is caught up on no group (it is restarting): everything goes to node 2 while node 2
  // is worth it, and then nothing moves.
  const lagging = (ids: number): BalanceInput['movable'] =>
    Array.from({ length: ids }, (_, i) => ({ groupId: i, caughtUp: [n2] }));
  const moves = planLeaderMoves({ ...input(n1, { 1: 24, 2: 12, 3: 0 }, { movesMax: 10 }), movable: lagging(24) });
  assert.ok(
    moves.every((m) => m.to === n2),
    JSON.stringify(moves),
  );
  assert.deepEqual(planLeaderMoves({ ...input(n1, { 1: 18, 2: 18, 3: 0 }), movable: lagging(18) }), []);
  // Node 3 is caught up on group 5 only: that is the group it gets.
  const some = planLeaderMoves({
    ...input(n1, { 1: 18, 2: 18, 3: 0 }, { movesMax: 1 }),
    movable: Array.from({ length: 18 }, (_, i) => ({ groupId: i, caughtUp: i === 5 ? [n2, n3] : [n2] })),
  });
  assert.deepEqual(some, [{ groupId: 5, to: n3 }]);
  // With node 3 lagging, node 1 (14) over its share would give to node 2 (13) only to make node 2 the one over:
  // a move needs a gap of two, or the two would hand a group back and forth.
  assert.deepEqual(
    planLeaderMoves({ ...input(n1, { 1: 14, 2: 13, 3: 9 }, { tolerance: 0 }), movable: lagging(14) }),
    [],
  );
  // Groups not offered as movable (in a transfer, cooling down) are never planned.
  assert.deepEqual(planLeaderMoves({ ...input(n1, { 1: 36 }), movable: [] }), []);
});

test('a leaving node gets no leadership, is not counted in the share, and moves nothing itself', () => {
  // Node 3 is being removed and leads nothing now: without it, 18/18 between nodes 1 and 2 is balanced.
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 18, 2: 18, 3: 0 }, { leaving: [n3] })), []);
  // 24/12 with node 3 leaving: the group goes to node 2, never to node 3, though it leads the fewest.
  const moves = planLeaderMoves(input(n1, { 1: 24, 2: 12, 3: 0 }, { leaving: [n3], movesMax: 10 }));
  assert.ok(moves.length > 0 && moves.every((m) => m.to === n2), JSON.stringify(moves));
  // The leaving node itself, however many it leads, moves nothing: its removal hands each group over.
  assert.deepEqual(planLeaderMoves(input(n3, { 1: 6, 2: 6, 3: 24 }, { leaving: [n3] })), []);
});

test('draining: nothing moves', () => {
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 36 }, { draining: true })), []);
  assert.deepEqual(planLeaderMoves(input(n1, { 1: 27, 2: 9 }, { draining: true })), []);
});

/**
 * Every node plans against the same (true) counts each round and its moves all happen; starting from seeded random
 * spreads of 36 groups over 3 and 5 nodes, at tolerances 0–2, the cluster reaches the band within a bounded number
 * of rounds and then plans nothing more.
 */
test('rounds of every node converge into the band and then stop', () => {
  const prng = new Prng(20260101);
  for (let run = 0; run < 200; run++) {
    const size = run % 2 === 0 ? 3 : 5;
    const ids = Array.from({ length: size }, (_, i) => nodeId(i + 1));
    const tolerance = run % 3;
    const leader = new Map<number, NodeId>();
    const skew = prng.int(4); // some runs put everything on few nodes
    for (let g = 0; g < 36; g++) leader.set(g, ids[prng.int(Math.max(1, size - skew))]!);
    const band = leaderShareBand(36, size, tolerance);
    const counts = (): Map<NodeId, number> => {
      const c = new Map<NodeId, number>(ids.map((id) => [id, 0]));
      for (const l of leader.values()) c.set(l, (c.get(l) ?? 0) + 1);
      return c;
    };
    let rounds = 0;
    for (;;) {
      const c = counts();
      const moves: LeaderMove[] = [];
      for (const self of ids) {
        const mine = [...leader].filter(([, l]) => l === self).map(([g]) => g);
        moves.push(
          ...planLeaderMoves({
            self,
            groupCount: 36,
            live: ids,
            leaderCounts: c,
            movable: mine.map((groupId) => ({ groupId, caughtUp: ids.filter((id) => id !== self) })),
            tolerance,
            movesMax: 3,
            draining: false,
            leaving: [],
          }),
        );
      }
      if (moves.length === 0) break;
      for (const m of moves) leader.set(m.groupId, m.to);
      rounds++;
      assert.ok(rounds <= 30, `run ${run}: still moving after ${rounds} rounds: ${JSON.stringify([...counts()])}`);
    }
    for (const [id, c] of counts()) {
      assert.ok(c >= band.min && c <= band.max, `run ${run}: node ${id} leads ${c}, band ${JSON.stringify(band)}`);
    }
  }
});
