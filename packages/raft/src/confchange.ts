/**
 * Group membership: the configuration (ConfState, etcd's raftpb.ConfState), the changes a conf entry carries
 * (ConfChangeV2) and the rules that turn one configuration into the next (etcd-io/raft confchange/confchange.go),
 * plus the joint-quorum arithmetic (quorum/joint.go, quorum/majority.go).
 *
 * A configuration is joint while `votersOutgoing` is not empty: then every decision (commit, election, CheckQuorum,
 * ReadIndex) needs a majority of `voters` AND a majority of `votersOutgoing` (Raft thesis §4.3). Learners receive
 * the log but never count. `learnersNext` are outgoing voters that become learners when the joint state is left
 * (a voter cannot turn learner while it still counts in the outgoing half).
 */
import type { ConfChangeSingle, ConfChangeV2, ConfState, NodeId } from './types.js';
import { ConfChangeInvalidError } from './errors.js';
import { ConfChangeType } from './types.js';

/** The change that leaves a joint configuration. */
export const LEAVE_JOINT: ConfChangeV2 = { transition: 'auto', changes: [] };

export function confState(voters: readonly NodeId[]): ConfState {
  return { voters: sortIds(voters), votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
}

export function isJoint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

/** Every node that votes in either half. */
export function allVoters(cs: ConfState): NodeId[] {
  return sortIds([...new Set([...cs.voters, ...cs.votersOutgoing])]);
}

/** Every node the leader replicates to: voters of both halves and learners. */
export function allMembers(cs: ConfState): NodeId[] {
  return sortIds([...new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext])]);
}

export function isVoter(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id);
}

export function sameConfState(a: ConfState, b: ConfState): boolean {
  return (
    sameIds(a.voters, b.voters) &&
    sameIds(a.votersOutgoing, b.votersOutgoing) &&
    sameIds(a.learners, b.learners) &&
    sameIds(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  );
}

// -----------------------------------------------------------------------------------------------------
// Quorums

/**
 * The highest index that a majority of `ids` has acknowledged (matchOf); Infinity for an empty set, so that an
 * empty outgoing half never limits the joint result (quorum/majority.go CommittedIndex).
 */
export function majorityIndex(ids: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (ids.length === 0) return Infinity;
  const matches = ids.map(matchOf).sort((a, b) => b - a);
  return matches[Math.floor(ids.length / 2)] ?? 0;
}

/** Joint commit index: what both halves have each acknowledged by a majority. */
export function committedIndex(cs: ConfState, matchOf: (id: NodeId) => number): number {
  return Math.min(majorityIndex(cs.voters, matchOf), majorityIndex(cs.votersOutgoing, matchOf));
}

export type VoteResult = 'pending' | 'won' | 'lost';

function majorityVote(ids: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (ids.length === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of ids) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(ids.length / 2) + 1;
  if (yes >= q) return 'won';
  if (yes + missing >= q) return 'pending';
  return 'lost';
}

/** Joint vote: won only when both halves won, lost when either lost (votes of non-voters never count). */
export function voteResult(cs: ConfState, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVote(cs.voters, votes);
  const b = majorityVote(cs.votersOutgoing, votes);
  if (a === 'won' && b === 'won') return 'won';
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}

/** Whether the nodes for which `yes` holds form a majority of each half. */
export function hasQuorum(cs: ConfState, yes: (id: NodeId) => boolean): boolean {
  const votes = new Map<NodeId, boolean>();
  for (const id of allVoters(cs)) votes.set(id, yes(id));
  return voteResult(cs, votes) === 'won';
}

// -----------------------------------------------------------------------------------------------------
// Changes

/**
 * The configuration after `cc`, or a ConfChangeInvalidError naming the rule it breaks (confchange.go: Simple,
 * EnterJoint, LeaveJoint and checkInvariants).
 */
export function applyChange(cs: ConfState, cc: ConfChangeV2): ConfState {
  if (cc.changes.length === 0) return leaveJoint(cs);
  if (cc.transition === 'auto' && cc.changes.length === 1) return simple(cs, cc.changes);
  return enterJoint(cs, cc.transition === 'auto', cc.changes);
}

function leaveJoint(cs: ConfState): ConfState {
  if (!isJoint(cs)) throw new ConfChangeInvalidError("can't leave a non-joint config");
  const learners = new Set([...cs.learners, ...cs.learnersNext]);
  return check({ voters: cs.voters, votersOutgoing: [], learners: [...learners], learnersNext: [], autoLeave: false });
}

function simple(cs: ConfState, changes: readonly ConfChangeSingle[]): ConfState {
  if (isJoint(cs)) throw new ConfChangeInvalidError("can't apply a simple config change in a joint config");
  const next = applySingles(cs, changes);
  // Only one voter may come or go in one step: then every old majority meets every new one (thesis §4.1).
  if (symmetricDifference(cs.voters, next.voters) > 1) {
    throw new ConfChangeInvalidError('more than one voter changed without entering a joint state');
  }
  return check(next);
}

function enterJoint(cs: ConfState, autoLeave: boolean, changes: readonly ConfChangeSingle[]): ConfState {
  if (isJoint(cs)) throw new ConfChangeInvalidError('config is already joint');
  if (cs.voters.length === 0) throw new ConfChangeInvalidError("can't make a zero-voter config joint");
  const next = applySingles({ ...cs, votersOutgoing: cs.voters }, changes);
  return check({ ...next, autoLeave });
}

/** Applies the changes to the incoming half (confchange.go apply / makeVoter / makeLearner / remove). */
function applySingles(cs: ConfState, changes: readonly ConfChangeSingle[]): ConfState {
  const voters = new Set(cs.voters);
  const outgoing = new Set(cs.votersOutgoing);
  const learners = new Set(cs.learners);
  const learnersNext = new Set(cs.learnersNext);
  for (const c of changes) {
    if (!Number.isInteger(c.node) || c.node <= 0) throw new ConfChangeInvalidError(`invalid node id ${c.node}`);
    switch (c.type) {
      case ConfChangeType.AddVoter:
        learners.delete(c.node);
        learnersNext.delete(c.node);
        voters.add(c.node);
        break;
      case ConfChangeType.AddLearner:
        voters.delete(c.node);
        learners.delete(c.node);
        learnersNext.delete(c.node);
        // An outgoing voter still counts there: it becomes a learner only when the joint state is left.
        if (outgoing.has(c.node)) learnersNext.add(c.node);
        else learners.add(c.node);
        break;
      case ConfChangeType.Remove:
        voters.delete(c.node);
        learners.delete(c.node);
        learnersNext.delete(c.node);
        break;
      default:
        throw new ConfChangeInvalidError(`unknown change type ${String((c as { type: unknown }).type)}`);
    }
  }
  if (voters.size === 0) throw new ConfChangeInvalidError('removed all voters');
  return {
    voters: [...voters],
    votersOutgoing: [...outgoing],
    learners: [...learners],
    learnersNext: [...learnersNext],
    autoLeave: cs.autoLeave,
  };
}

/** confchange.go checkInvariants: learners are not voters, learnersNext are outgoing voters. */
function check(cs: ConfState): ConfState {
  const sorted: ConfState = {
    voters: sortIds(cs.voters),
    votersOutgoing: sortIds(cs.votersOutgoing),
    learners: sortIds(cs.learners),
    learnersNext: sortIds(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
  for (const id of sorted.learners) {
    if (isVoter(sorted, id)) throw new ConfChangeInvalidError(`node ${id} is both a learner and a voter`);
  }
  for (const id of sorted.learnersNext) {
    if (!sorted.votersOutgoing.includes(id))
      throw new ConfChangeInvalidError(`learnerNext ${id} is not an outgoing voter`);
    if (sorted.voters.includes(id)) throw new ConfChangeInvalidError(`learnerNext ${id} is an incoming voter`);
  }
  if (!isJoint(sorted) && sorted.autoLeave) throw new ConfChangeInvalidError('autoLeave set outside a joint config');
  return sorted;
}

// -----------------------------------------------------------------------------------------------------
// Codec: conf entries carry the change as JSON (small, rare, and readable in a raft.db dump).

/** The JSON is ASCII (change names and integers): one byte per character, no text codec needed in the core. */
function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) throw new ConfChangeInvalidError('conf change text is not ASCII');
    out[i] = c;
  }
  return out;
}

function asciiText(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return text;
}

export function encodeConfChange(cc: ConfChangeV2): Uint8Array {
  return asciiBytes(JSON.stringify({ t: cc.transition, c: cc.changes.map((c) => [c.type, c.node]) }));
}

export function decodeConfChange(bytes: Uint8Array): ConfChangeV2 {
  const raw = JSON.parse(asciiText(bytes)) as { t?: unknown; c?: unknown };
  if ((raw.t !== 'auto' && raw.t !== 'explicit') || !Array.isArray(raw.c)) {
    throw new ConfChangeInvalidError('malformed conf change entry');
  }
  const changes = raw.c.map((pair: unknown): ConfChangeSingle => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new ConfChangeInvalidError('malformed conf change');
    const [type, node] = pair as [unknown, unknown];
    if (type !== 'addVoter' && type !== 'addLearner' && type !== 'remove') {
      throw new ConfChangeInvalidError(`unknown change type ${String(type)}`);
    }
    if (typeof node !== 'number' || !Number.isInteger(node) || node <= 0) {
      throw new ConfChangeInvalidError(`invalid node id ${String(node)}`);
    }
    return { type, node: node as NodeId };
  });
  return { transition: raw.t, changes };
}

/** ConfState as plain JSON, for raft.db and the wire. */
export function encodeConfState(cs: ConfState): string {
  return JSON.stringify({
    v: cs.voters,
    o: cs.votersOutgoing,
    l: cs.learners,
    n: cs.learnersNext,
    a: cs.autoLeave,
  });
}

export function decodeConfState(text: string): ConfState {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const ids = (v: unknown): NodeId[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) {
      throw new ConfChangeInvalidError('malformed conf state');
    }
    return sortIds(v as NodeId[]);
  };
  if (typeof raw.a !== 'boolean') throw new ConfChangeInvalidError('malformed conf state');
  return check({
    voters: ids(raw.v),
    votersOutgoing: ids(raw.o),
    learners: ids(raw.l),
    learnersNext: ids(raw.n),
    autoLeave: raw.a,
  });
}

function sortIds(ids: readonly NodeId[]): NodeId[] {
  return [...ids].sort((a, b) => a - b);
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function symmetricDifference(a: readonly NodeId[], b: readonly NodeId[]): number {
  const sa = new Set(a);
  const sb = new Set(b);
  let n = 0;
  for (const id of sa) if (!sb.has(id)) n++;
  for (const id of sb) if (!sa.has(id)) n++;
  return n;
}
