/**
 * Resolving a step's target to a node id against a fresh cluster status: a node id as is; "leader of GROUP" the
 * group's leader; "a follower of GROUP" one of the up nodes that do not lead it; "node leading most groups" the
 * node with the most leaderships (lowest id on a tie); "random" any node, drawn from the drill's seeded PRNG;
 * "previous" the node the last targeted step chose. A target that names no node (a group without a leader) is a
 * TargetError, which fails the step.
 */
import type { RandomSource } from '@kalam/raft';
import type { ClusterStatus, NodeId } from '../cluster/types.js';
import type { Target } from './spec.js';

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

export function describeTarget(t: Target): string {
  switch (t.kind) {
    case 'node':
      return `node ${t.id}`;
    case 'leader':
      return `leader of ${t.group}`;
    case 'follower':
      return `a follower of ${t.group}`;
    case 'most-leader':
      return 'node leading most groups';
    case 'random':
      return 'random';
    case 'previous':
      return 'previous';
  }
}

export function resolveTarget(t: Target, status: ClusterStatus, rnd: RandomSource, previous: NodeId | null): NodeId {
  const ids = status.nodes.map((n) => n.id).sort((a, b) => a - b);
  switch (t.kind) {
    case 'node':
      return t.id;
    case 'leader':
    case 'follower': {
      const group = status.groups.find((g) => g.name === t.group);
      if (group === undefined) throw new TargetError(`no group ${t.group} in the cluster status`);
      if (t.kind === 'leader') {
        if (group.leader === null) throw new TargetError(`${t.group} has no leader`);
        return group.leader;
      }
      const followers = status.nodes
        .filter((n) => n.state === 'up' && n.id !== group.leader)
        .map((n) => n.id)
        .sort((a, b) => a - b);
      if (followers.length === 0) throw new TargetError(`${t.group} has no follower that is up`);
      return followers[rnd.int(followers.length)] as NodeId;
    }
    case 'most-leader': {
      let best: NodeId | null = null;
      let most = 0;
      for (const id of ids) {
        const led = status.leadersPerNode[String(id)] ?? 0;
        if (led > most) {
          most = led;
          best = id;
        }
      }
      if (best === null) throw new TargetError('no node leads any group');
      return best;
    }
    case 'random':
      if (ids.length === 0) throw new TargetError('the cluster has no nodes');
      return ids[rnd.int(ids.length)] as NodeId;
    case 'previous':
      if (previous === null) throw new TargetError('"previous" used before any step chose a node');
      return previous;
  }
}

/** The groups `node` leads in `status`. */
export function groupsLedBy(status: ClusterStatus, node: NodeId): string[] {
  return status.groups.filter((g) => g.leader === node).map((g) => g.name);
}
