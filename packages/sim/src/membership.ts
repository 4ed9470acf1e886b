/**
 * The simulators' membership workload: what change a client asks a group's leader for next while faults run, and
 * the steps that bring a group back to every node as a voter once they heal. Both go through the driver's own
 * `proposeConfChange` (the shipped path); the core refuses what is not allowed now (one change at a time, no change
 * without a caught-up quorum), and a refusal is an answer like any other.
 */
import type { ConfChangeV2, ConfState, NodeId, Prng } from '@kalam/raft';
import { LEAVE_JOINT, allMembers, confState, isJoint, sameConfState } from '@kalam/raft';

/**
 * A change the leader of `conf` can make next, drawn from `rand`: leave a joint configuration; or add a learner,
 * promote one (in one step, or through a joint configuration left by hand or by the leader), remove or demote a
 * voter (never the last), or replace a voter by a learner (joint, left by the leader). Undefined: nothing to do.
 */
export function drawConfChange(conf: ConfState, ids: readonly NodeId[], rand: Prng): ConfChangeV2 | undefined {
  if (isJoint(conf)) return LEAVE_JOINT;
  const pick = <T>(xs: readonly T[]): T => xs[rand.int(xs.length)]!;
  const outside = ids.filter((id) => !allMembers(conf).includes(id));
  const options: ConfChangeV2[] = [];
  if (outside.length > 0) options.push({ transition: 'auto', changes: [{ type: 'addLearner', node: pick(outside) }] });
  if (conf.learners.length > 0) {
    const node = pick(conf.learners);
    options.push({ transition: rand.chance(0.5) ? 'auto' : 'explicit', changes: [{ type: 'addVoter', node }] });
    if (conf.voters.length > 1) {
      const out = pick(conf.voters);
      options.push({
        transition: 'auto',
        changes: [
          { type: 'addVoter', node },
          { type: 'remove', node: out },
        ],
      });
    }
  }
  if (conf.voters.length > 1) {
    const node = pick(conf.voters);
    options.push({ transition: 'auto', changes: [{ type: rand.chance(0.5) ? 'remove' : 'addLearner', node }] });
  }
  return options.length === 0 ? undefined : pick(options);
}

/**
 * The next step from the leader's `conf` back to every node as a voter (leave a joint state, add a missing node
 * as a learner, promote a learner), or undefined when the leader is there already.
 */
export function stepBack(conf: ConfState, ids: readonly NodeId[]): ConfChangeV2 | undefined {
  if (isJoint(conf)) return LEAVE_JOINT;
  const missing = ids.find((id) => !allMembers(conf).includes(id));
  if (missing !== undefined) return { transition: 'auto', changes: [{ type: 'addLearner', node: missing }] };
  const learner = conf.learners[0];
  if (learner !== undefined) return { transition: 'auto', changes: [{ type: 'addVoter', node: learner }] };
  return undefined;
}

/** Whether `conf` is the end every group is brought back to: every node a voter. */
export function allVotersConf(conf: ConfState, ids: readonly NodeId[]): boolean {
  return sameConfState(conf, confState(ids));
}

/** A change as a trace word: `addVoter:4,remove:1`, or `leave-joint`. */
export function describeConfChange(cc: ConfChangeV2): string {
  return `${cc.transition} ${cc.changes.map((x) => `${x.type}:${x.node}`).join(',') || 'leave-joint'}`;
}
