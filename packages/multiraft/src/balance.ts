/**
 * Leader balance: which groups a node hands over, and to whom, so that leadership spreads over the nodes (every
 * node hosts every group, but the leader does a group's work: appends, fsyncs it first, answers writes and reads).
 * Elections pick whoever times out first, so a fresh cluster or one after a failover may put most leaders on one
 * node. Like TiKV's balance-leader scheduler and CockroachDB's lease rebalancing, a node that leads more than its
 * share moves some of its groups away by leadership transfer; unlike them there is no central placement driver:
 * each node decides for itself, from its own Raft state, about the groups it leads — the only ones it can move.
 *
 * This file is the pure decision (`planLeaderMoves`); the driver (driver.ts) gathers its inputs each round and runs
 * the transfers it returns, on the injected clock, so the simulator exercises it as well.
 *
 * The rule. With G groups and N live voters, a node's share is [⌊G/N⌋, ⌈G/N⌉]; with a tolerance T the band a node
 * may sit in is [⌊G/N⌋ − T, ⌈G/N⌉ + T]. A node with `mine` leaders moves one group to the live peer `t` that leads
 * the fewest (ties: lowest id), on which that group's log is caught up, when
 *     mine − count(t) ≥ 2   and   (mine > ⌈G/N⌉ + T   or   (mine > ⌊G/N⌋ and count(t) < ⌊G/N⌋ − T)).
 * The first clause is "it leads too many"; the second lets a node above its share give to a peer below the band
 * (13/13/10 at T = 1 has nobody over 13, yet node 3 is out of the band), and such a peer always has one: the others
 * then hold more than (N−1)·⌊G/N⌋ groups. The gap of two makes every move lower the sum of squared counts, so moves
 * cannot cycle: with every node seeing the same counts the cluster reaches the band and then moves nothing. A round
 * plans up to `movesMax` moves, counting each planned one as done before the next.
 *
 * A node on its way out of the cluster (`leaving`: its removal under way, group by group) is neither a target nor
 * counted in the share, and moves nothing itself: every group it leads hands its leadership over as the node is
 * removed from it, and were the others to fill it back up each round, as they would a node below the band, every
 * group would change leader twice on the way (as TiKV's and CockroachDB's schedulers skip a store being removed).
 */
import type { NodeId } from '@kalam/raft';

/** The band of leader counts a node may hold: [min, max], inclusive. */
export interface LeaderShareBand {
  readonly min: number;
  readonly max: number;
}

/** [⌊groups/live⌋ − tolerance, ⌈groups/live⌉ + tolerance], never below 0; live ≥ 1. */
export function leaderShareBand(groups: number, live: number, tolerance: number): LeaderShareBand {
  if (!Number.isInteger(groups) || groups < 0) throw new RangeError(`groups must be an integer ≥ 0, got ${groups}`);
  if (!Number.isInteger(live) || live < 1) throw new RangeError(`live must be an integer ≥ 1, got ${live}`);
  if (!Number.isInteger(tolerance) || tolerance < 0) {
    throw new RangeError(`tolerance must be an integer ≥ 0, got ${tolerance}`);
  }
  return {
    min: Math.max(0, Math.floor(groups / live) - tolerance),
    max: Math.ceil(groups / live) + tolerance,
  };
}

/** A group this node leads and may hand over, with the peers that may take it. */
export interface MovableGroup {
  readonly groupId: number;
  /** Peers whose log of this group is current (replicating, match index at the commit index) and whose link is up. */
  readonly caughtUp: readonly NodeId[];
}

export interface BalanceInput {
  readonly self: NodeId;
  /** Every group the node hosts (every node hosts every group). */
  readonly groupCount: number;
  /** Voters this node can reach, itself included: the only nodes that count and the only possible targets. */
  readonly live: readonly NodeId[];
  /** Leaders per node as this node's Raft state knows them; a node missing has none. */
  readonly leaderCounts: ReadonlyMap<NodeId, number>;
  /** In the order to try them; groups in a transfer already or cooling down after a failed one are left out. */
  readonly movable: readonly MovableGroup[];
  readonly tolerance: number;
  /** Moves this round may start (the driver's in-flight bound); ≤ 0 plans nothing. */
  readonly movesMax: number;
  /** The node is handing over everything to stop: it moves nothing on its own. */
  readonly draining: boolean;
  /** Nodes being removed from the cluster: no target, not counted; when self is one, nothing moves. */
  readonly leaving: readonly NodeId[];
}

export interface LeaderMove {
  readonly groupId: number;
  readonly to: NodeId;
}

/** The transfers to start this round; empty when balanced, draining, alone, or nothing may move. Pure. */
export function planLeaderMoves(input: BalanceInput): LeaderMove[] {
  const leaving = new Set(input.leaving);
  const peers = [...new Set(input.live)].filter((id) => id !== input.self && !leaving.has(id));
  if (input.draining || leaving.has(input.self) || input.movesMax <= 0 || peers.length === 0) return [];
  const band = leaderShareBand(input.groupCount, peers.length + 1, input.tolerance);
  const fairMax = band.max - input.tolerance;
  const fairMin = Math.floor(input.groupCount / (peers.length + 1));
  const counts = new Map<NodeId, number>();
  for (const id of [input.self, ...peers]) counts.set(id, input.leaderCounts.get(id) ?? 0);
  const count = (id: NodeId): number => counts.get(id) ?? 0;
  const planned = new Set<number>();
  const moves: LeaderMove[] = [];
  while (moves.length < input.movesMax) {
    const mine = count(input.self);
    const overloaded = mine > fairMax + input.tolerance;
    const worthIt = (t: NodeId): boolean =>
      mine - count(t) >= 2 && (overloaded || (mine > fairMin && count(t) < fairMin - input.tolerance));
    // Fewest leaders first; a peer on which none of our groups is caught up is passed over for the next one.
    const targets = peers.filter(worthIt).sort((a, b) => count(a) - count(b) || a - b);
    let move: LeaderMove | undefined;
    for (const to of targets) {
      const g = input.movable.find((m) => !planned.has(m.groupId) && m.caughtUp.includes(to));
      if (g !== undefined) {
        move = { groupId: g.groupId, to };
        break;
      }
    }
    if (move === undefined) break;
    moves.push(move);
    planned.add(move.groupId);
    counts.set(input.self, mine - 1);
    counts.set(move.to, count(move.to) + 1);
  }
  return moves;
}
