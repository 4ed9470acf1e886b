/**
 * The membership reconciler (issue [M9] §2): run by the meta:system leader only, one `step()` per membership tick.
 * It reads two things — the member list in meta:system (system.cluster_nodes) and each group's configuration (its
 * ConfState) — and moves every group one change towards what the list says:
 *
 *   joining / learner  per group: not in it → addLearner (at most `learnersCatchingUpPerNodeMax` groups of one node
 *                      catching up at once: each may need a snapshot sent); a learner whose lag is at most
 *                      `promoteLagEntriesMax` → addVoter (a joint change, left automatically).
 *                      joining → learner once every group has it (learner or voter); learner → voter once it is a
 *                      voter of every group.
 *   leaving            per group: in it → remove (joint when it is a voter), only while the group keeps a quorum
 *                      of live voters, meta:system last (see metaGroup); leaving → removed once no group has it.
 *
 * Idempotent and resumable: it keeps nothing between steps, so a new leader (or this one after a restart) carries
 * on from whatever the replicated state and the ConfStates say. A group in a joint configuration already has a
 * change in flight (Raft thesis §4.1: one at a time) and is left alone until it has left it. State changes of the
 * list are compare-and-set (SetClusterNodeState `from`), so a deposed leader's late step changes nothing. A change
 * a group refuses or times out on is reported as waiting and tried again next step; the other groups go on.
 *
 * The types below copy m9-core's shapes (etcd raftpb.ConfState and ConfChangeV2); the node wires RaftManager in.
 */
import type { ClusterNodeRecord, ClusterNodeState } from '@kalam/kalamdb';

import type { NodeLog } from './runtime.js';

/** A group's configuration (etcd raftpb.ConfState). */
export interface ConfState {
  readonly voters: readonly number[];
  /** Non-empty only in a joint configuration: the voters being left. */
  readonly votersOutgoing: readonly number[];
  readonly learners: readonly number[];
  /** Voters of the outgoing configuration that become learners when the joint configuration is left. */
  readonly learnersNext: readonly number[];
  readonly autoLeave: boolean;
}

export interface ConfChangeSingle {
  readonly type: 'addVoter' | 'addLearner' | 'remove';
  readonly node: number;
}

/** etcd's ConfChangeV2: 'auto' enters a joint configuration when needed and leaves it by itself. */
export interface ConfChangeV2 {
  readonly transition: 'auto' | 'explicit';
  readonly changes: readonly ConfChangeSingle[];
}

/** What the reconciler needs of the groups (RaftManager, once m9-core is in). */
export interface MembershipDriver {
  confState(groupId: number): ConfState;
  /**
   * Proposes `cc` to the group (forwarded to its leader); resolves with the configuration it applied. `deadlineMs`:
   * how long to wait, in ms from now.
   */
  proposeConfChange(groupId: number, cc: ConfChangeV2, deadlineMs: number): Promise<ConfState>;
  /** How many entries `node` is behind the group's leader (its last index − the node's match), or null if unknown. */
  learnerLag(groupId: number, node: number): Promise<number | null>;
  /** Whether `node` is reachable now (this node itself always is). */
  isLive(node: number): boolean;
}

export interface ReconcilerOptions {
  readonly driver: MembershipDriver;
  readonly groups: readonly number[];
  readonly promoteLagEntriesMax: number;
  readonly learnersCatchingUpPerNodeMax: number;
  readonly nodes: () => readonly ClusterNodeRecord[];
  readonly setState: (nodeId: number, from: ClusterNodeState, to: ClusterNodeState) => Promise<void>;
  readonly log?: NodeLog;
  /** One conf change's bound; default RECONCILER_CONF_CHANGE_TIMEOUT_MS. */
  readonly confChangeTimeoutMs?: number;
  /**
   * Whether this node is still the reconciler (it leads meta:system and is in its configuration), asked before
   * every change: a step ends as soon as it is not. Absent: always.
   */
  readonly stillLeader?: () => boolean;
  /**
   * meta:system's group id. A leaving node leaves it last, once no other group has it: a data group applies an entry
   * only once this node's meta:system has applied the index the entry was planned against (kalamdb state/data.ts
   * canApply), so a node out of meta:system applies no newer data entry — as a data group's leader it would hold
   * every later entry of the group, writes and its own removal alike, unapplied and unanswered. The meta:system
   * leader removing itself thus leaves every other group first, and with meta:system it stops being the reconciler.
   */
  readonly metaGroup?: number;
}

export const RECONCILER_CONF_CHANGE_TIMEOUT_MS = 5_000;

/** What one step did, for logs and tests. */
export interface StepReport {
  readonly changes: { readonly group: number; readonly change: ConfChangeSingle }[];
  readonly states: { readonly node: number; readonly from: ClusterNodeState; readonly to: ClusterNodeState }[];
  /** Groups left alone: a change in flight (joint), a removal that would cost a quorum, or a change refused. */
  readonly waiting: { readonly group: number; readonly node: number; readonly why: string }[];
}

export class Reconciler {
  constructor(private readonly opts: ReconcilerOptions) {}

  async step(): Promise<StepReport> {
    const report: Mutable<StepReport> = { changes: [], states: [], waiting: [] };
    for (const node of this.opts.nodes()) {
      if (!this.leading()) break;
      switch (node.state) {
        case 'joining':
        case 'learner':
          await this.grow(node, report);
          break;
        case 'leaving':
          await this.shrink(node, report);
          break;
        case 'voter':
        case 'removed':
          break;
      }
    }
    return report;
  }

  private async grow(node: ClusterNodeRecord, report: Mutable<StepReport>): Promise<void> {
    const id = node.nodeId;
    let catchingUp = this.opts.groups.filter((g) => isLearner(this.conf(g), id)).length;
    for (const g of this.opts.groups) {
      if (!this.leading()) return;
      const conf = this.conf(g);
      if (isJoint(conf)) {
        report.waiting.push({ group: g, node: id, why: 'a change is in flight' });
        continue;
      }
      if (conf.voters.includes(id)) continue;
      if (conf.learners.includes(id)) {
        const lag = await this.opts.driver.learnerLag(g, id);
        if (lag === null || lag > this.opts.promoteLagEntriesMax) continue;
        const promoted = await this.change(
          g,
          id,
          { transition: 'auto', changes: [{ type: 'addVoter', node: id }] },
          report,
        );
        if (promoted) catchingUp--;
        continue;
      }
      if (catchingUp >= this.opts.learnersCatchingUpPerNodeMax) continue;
      // Counted whatever the outcome: a change that timed out may have been made, and the bound must hold.
      await this.change(g, id, { transition: 'auto', changes: [{ type: 'addLearner', node: id }] }, report);
      catchingUp++;
    }
    if (!this.leading()) return;
    const confs = this.opts.groups.map((g) => this.conf(g));
    if (node.state === 'joining' && confs.every((c) => c.voters.includes(id) || c.learners.includes(id))) {
      await this.setState(id, 'joining', 'learner', report);
    }
    const everyVoter = confs.every((c) => c.voters.includes(id) && !isJoint(c));
    if (everyVoter && (node.state === 'learner' || report.states.some((s) => s.node === id && s.to === 'learner'))) {
      await this.setState(id, 'learner', 'voter', report);
    }
  }

  private async shrink(node: ClusterNodeRecord, report: Mutable<StepReport>): Promise<void> {
    const id = node.nodeId;
    const meta = this.opts.metaGroup;
    const others = this.opts.groups.filter((g) => g !== meta);
    for (const g of [...others, ...this.opts.groups.filter((g) => g === meta)]) {
      if (!this.leading()) return;
      const conf = this.conf(g);
      if (!inConf(conf, id)) continue;
      if (g === meta && others.some((o) => inConf(this.conf(o), id))) {
        report.waiting.push({ group: g, node: id, why: 'meta:system goes last: other groups still have the node' });
        continue;
      }
      if (isJoint(conf)) {
        report.waiting.push({ group: g, node: id, why: 'a change is in flight' });
        continue;
      }
      if (conf.voters.includes(id)) {
        const problem = removalProblem(conf.voters, [id], (n) => this.opts.driver.isLive(n));
        if (problem !== null) {
          report.waiting.push({ group: g, node: id, why: problem.message });
          continue;
        }
      }
      await this.change(g, id, { transition: 'auto', changes: [{ type: 'remove', node: id }] }, report);
    }
    if (this.leading() && this.opts.groups.every((g) => !inConf(this.conf(g), id))) {
      await this.setState(id, 'leaving', 'removed', report);
    }
  }

  /**
   * A step ends once this node is no longer the reconciler — above all when the meta:system leader removes itself:
   * its first change takes it out of meta:system, and the heir's reconciler carries on from the replicated state.
   * Two reconcilers at once would race each other's changes group by group.
   */
  private leading(): boolean {
    return this.opts.stillLeader?.() ?? true;
  }

  private conf(groupId: number): ConfState {
    return this.opts.driver.confState(groupId);
  }

  /**
   * Proposes one group's change; false when the group refused it or the outcome is unknown. That group waits for
   * the next step (which reads its configuration again), and the other groups go on: a refusal is usually brief —
   * a leader just elected, e.g. the heir of the node being removed, takes no change until it has committed in its
   * term; no leader for a moment; a timeout — and one group's must not cost every group after it a whole tick.
   */
  private async change(groupId: number, node: number, cc: ConfChangeV2, report: Mutable<StepReport>): Promise<boolean> {
    try {
      // The bound is a duration from now (the driver's deadlineMs), not a time of day.
      await this.opts.driver.proposeConfChange(
        groupId,
        cc,
        this.opts.confChangeTimeoutMs ?? RECONCILER_CONF_CHANGE_TIMEOUT_MS,
      );
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      report.waiting.push({ group: groupId, node, why });
      this.opts.log?.('info', 'membership.conf_change_deferred', { group: groupId, node, why });
      return false;
    }
    for (const change of cc.changes) {
      report.changes.push({ group: groupId, change });
      this.opts.log?.('info', 'membership.conf_change', { group: groupId, ...change });
    }
    return true;
  }

  private async setState(
    node: number,
    from: ClusterNodeState,
    to: ClusterNodeState,
    report: Mutable<StepReport>,
  ): Promise<void> {
    await this.opts.setState(node, from, to);
    report.states.push({ node, from, to });
    this.opts.log?.('info', 'membership.node_state', { node, from, to });
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] };

function isJoint(conf: ConfState): boolean {
  return conf.votersOutgoing.length > 0;
}

function isLearner(conf: ConfState, node: number): boolean {
  return conf.learners.includes(node) && !conf.voters.includes(node);
}

/** Whether `node` is in the configuration at all: a voter (incoming or outgoing) or a learner (now or next). */
export function inConf(conf: ConfState, node: number): boolean {
  return (
    conf.voters.includes(node) ||
    conf.votersOutgoing.includes(node) ||
    conf.learners.includes(node) ||
    conf.learnersNext.includes(node)
  );
}

// ---------------------------------------------------------------------------------------------------------
// What an operator may ask for: checked before the member list changes, with codes a client can act on.

export type MembershipErrorCode =
  /** The node id is not in the member list (or, for an add, an id was given that the cluster never gave out). */
  | 'NODE_NOT_FOUND'
  /** Already leaving or removed. */
  | 'NODE_ALREADY_LEAVING'
  /** The removal takes a quorum of some group's voters at once (two of three): remove them one at a time. */
  | 'TOO_MANY_AT_ONCE'
  /** Some group would be left without a quorum of live voters. */
  | 'QUORUM_AT_RISK'
  /** The node is in some group's configuration, and this node's Raft core cannot change configurations. */
  | 'CONF_CHANGES_UNAVAILABLE'
  /** meta:system refused the state change: the list changed since it was read (compare-and-set); read it again. */
  | 'STATE_CHANGED'
  /** The member list is not seeded yet (a cluster just formed): nothing can be checked against it; retry. */
  | 'MEMBERS_NOT_SEEDED';

export class MembershipError extends Error {
  override readonly name = 'MembershipError';
  constructor(
    readonly code: MembershipErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const majority = (n: number): number => Math.floor(n / 2) + 1;

/**
 * Why removing `remove` from a group whose voters are `voters` is refused, or null when it may go ahead: it may
 * not take a quorum of the voters at once (the old configuration's majority must still be there to commit the
 * joint entry, and "two of three" leaves one node holding the whole group), it may not leave no voter, and the
 * voters that stay must include a live majority of themselves.
 */
export function removalProblem(
  voters: readonly number[],
  remove: readonly number[],
  isLive: (node: number) => boolean,
): MembershipError | null {
  const leaving = voters.filter((v) => remove.includes(v));
  if (leaving.length === 0) return null;
  const staying = voters.filter((v) => !remove.includes(v));
  if (leaving.length >= majority(voters.length) || staying.length === 0) {
    return new MembershipError(
      'TOO_MANY_AT_ONCE',
      `removing ${leaving.join(', ')} takes ${leaving.length} of ${voters.length} voters at once; ` +
        `at most ${majority(voters.length) - 1} may go at a time`,
      { voters, remove: leaving },
    );
  }
  const live = staying.filter(isLive);
  if (live.length < majority(staying.length)) {
    return new MembershipError(
      'QUORUM_AT_RISK',
      `removing ${leaving.join(', ')} leaves voters ${staying.join(', ')} of which only ${live.length} are live; ` +
        `${majority(staying.length)} are needed`,
      { voters, remove: leaving, live },
    );
  }
  return null;
}

/**
 * Checks an operator's removal of `remove` (node ids) against the member list and every group's voters; throws
 * MembershipError, or returns the nodes to mark leaving.
 */
export function checkRemoval(
  remove: readonly number[],
  nodes: readonly ClusterNodeRecord[],
  confs: readonly ConfState[],
  isLive: (node: number) => boolean,
): ClusterNodeRecord[] {
  // Until the meta:system leader seeds the list (a membership tick after a new cluster elects it) every node would
  // look unknown: say so rather than answer NODE_NOT_FOUND for a member.
  if (nodes.length === 0) {
    throw new MembershipError(
      'MEMBERS_NOT_SEEDED',
      'the member list is not seeded yet (the meta:system leader does so shortly after the cluster forms); retry',
    );
  }
  const picked: ClusterNodeRecord[] = [];
  for (const id of new Set(remove)) {
    const node = nodes.find((n) => n.nodeId === id);
    if (node === undefined) throw new MembershipError('NODE_NOT_FOUND', `node ${id} is not a member`, { node: id });
    if (node.state === 'leaving' || node.state === 'removed') {
      throw new MembershipError('NODE_ALREADY_LEAVING', `node ${id} is already ${node.state}`, { node: id });
    }
    picked.push(node);
  }
  // Nodes already leaving count as going too: two removals asked one after the other are still two at once.
  const going = [...picked.map((n) => n.nodeId), ...nodes.filter((n) => n.state === 'leaving').map((n) => n.nodeId)];
  for (const conf of confs) {
    const problem = removalProblem(conf.voters, going, isLive);
    if (problem !== null) throw problem;
  }
  return picked;
}

/** Checks a promotion or re-add of an existing id: it must be a member that is not leaving. */
export function checkKnownNode(id: number, nodes: readonly ClusterNodeRecord[]): ClusterNodeRecord {
  const node = nodes.find((n) => n.nodeId === id);
  if (node === undefined) throw new MembershipError('NODE_NOT_FOUND', `node ${id} is not a member`, { node: id });
  if (node.state === 'leaving' || node.state === 'removed') {
    throw new MembershipError('NODE_ALREADY_LEAVING', `node ${id} is ${node.state}`, { node: id });
  }
  return node;
}
