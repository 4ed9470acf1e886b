/**
 * Helpers for unit tests that drive one bare `Raft` by hand (after etcd-io/raft's raft_paper_test.go): build a
 * node from a crafted durable state, read what it wants to send, play the leader or the peers.
 */
import type { Entry, Message, MsgApp, MsgAppResp, NodeId, PlantedBugs, RaftConfig } from '../../src/index.js';
import { EntryKind, NONE, Prng, Raft, StateRole, nodeId } from '../../src/index.js';

const encoder = new TextEncoder();

export function ids(n: number): NodeId[] {
  return Array.from({ length: n }, (_, i) => nodeId(i + 1));
}

/** Entries whose terms are `terms`, the first at index `first`. Each carries a payload naming it. */
export function entries(terms: readonly number[], first = 1): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: first + i,
    kind: EntryKind.Command,
    data: encoder.encode(`t${term}i${first + i}`),
  }));
}

export interface RaftOptions {
  readonly id?: number;
  readonly size?: number;
  /** Terms of the durable log, entry i at index i + 1. */
  readonly log?: readonly number[];
  readonly term?: number;
  readonly vote?: number;
  readonly commit?: number;
  readonly applied?: number;
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly seed?: number;
  readonly limits?: RaftConfig['limits'];
  readonly plantedBugs?: PlantedBugs;
}

/** A bare Raft node restored from a crafted durable state (a follower, as every node starts). */
export function newRaft(o: RaftOptions = {}): Raft {
  const log = entries(o.log ?? []);
  const commit = o.commit ?? 0;
  return new Raft({
    id: nodeId(o.id ?? 1),
    voters: ids(o.size ?? 3),
    electionTick: o.electionTick ?? 10,
    heartbeatTick: o.heartbeatTick ?? 1,
    preVote: o.preVote ?? false,
    checkQuorum: o.checkQuorum ?? false,
    random: new Prng(o.seed ?? 1),
    ...(o.limits !== undefined ? { limits: o.limits } : {}),
    ...(o.plantedBugs !== undefined ? { plantedBugs: o.plantedBugs } : {}),
    restore: {
      hardState: { term: o.term ?? 0, vote: (o.vote ?? NONE) as NodeId, commit },
      offsetIndex: 0,
      offsetTerm: 0,
      entries: log,
      applied: o.applied ?? commit,
    },
  });
}

/** Takes every message the node wants to send (early and after-persist), sorted by recipient then type. */
export function take(r: Raft): Message[] {
  const msgs = [...r.msgs, ...r.msgsAfterPersist];
  r.msgs = [];
  r.msgsAfterPersist = [];
  return msgs.sort((a, b) => a.to - b.to || a.type.localeCompare(b.type));
}

/** Makes everything in the log durable, as the driver does after writing a Ready. */
export function persistAll(r: Raft): void {
  r.log.stableTo(r.log.lastIndex());
  r.persistedTo(r.log.stableIndex);
}

/**
 * Wins an election for `r` by handing it the (pre-)votes of `voters` (default: every peer). Returns what the new
 * leader wants to send (its no-op appends).
 */
export function electLeader(r: Raft, voters?: readonly number[]): Message[] {
  r.hup(false);
  persistAll(r);
  for (const id of voters ?? r.voters) {
    if (id === r.id || r.role !== StateRole.PreCandidate) continue;
    r.step({ type: 'MsgPreVoteResp', from: id as NodeId, to: r.id, term: r.term + 1, reject: false });
  }
  persistAll(r);
  for (const id of voters ?? r.voters) {
    if (id === r.id || r.role === StateRole.Leader) continue;
    r.step({ type: 'MsgVoteResp', from: id as NodeId, to: r.id, term: r.term, reject: false });
  }
  if (r.role !== StateRole.Leader) throw new Error(`node ${r.id} did not win the election`);
  persistAll(r);
  return take(r);
}

/**
 * Plays every follower accepting whatever `r` appends (starting with `pending`), until `r` sends no more
 * appends. Bounded: a leader with nothing new to send stops after one empty round.
 */
export function replicate(r: Raft, pending: readonly Message[] = []): void {
  let msgs = [...pending, ...take(r)];
  for (let round = 0; round < 100; round++) {
    const apps = msgs.filter(isType('MsgApp'));
    if (apps.length === 0) return;
    for (const m of apps) r.step(acceptAndReply(m));
    persistAll(r);
    msgs = take(r);
  }
  throw new Error('replication did not settle');
}

/** Elects `r` and has every peer acknowledge its no-op, which commits it; the leader applies it. */
export function electAndCommitNoop(r: Raft): void {
  replicate(r, electLeader(r));
  r.log.appliedTo(r.log.committed);
  take(r);
}

/** A follower's acceptance of `m`. */
export function acceptAndReply(m: MsgApp): MsgAppResp {
  return {
    type: 'MsgAppResp',
    from: m.to,
    to: m.from,
    term: m.term,
    index: m.index + m.entries.length,
    reject: false,
    rejectHint: 0,
    logTerm: 0,
  };
}

/** Peer `from`'s acknowledgement of everything up to `index` to leader `r`. */
export function ack(from: number, r: Raft, index: number): MsgAppResp {
  return {
    type: 'MsgAppResp',
    from: from as NodeId,
    to: r.id,
    term: r.term,
    index,
    reject: false,
    rejectHint: 0,
    logTerm: 0,
  };
}

/** A MsgApp from `from` to `to`. */
export function app(o: {
  from: number;
  to: number;
  term: number;
  index: number;
  logTerm: number;
  entries?: Entry[];
  commit?: number;
}): MsgApp {
  return {
    type: 'MsgApp',
    from: o.from as NodeId,
    to: o.to as NodeId,
    term: o.term,
    index: o.index,
    logTerm: o.logTerm,
    entries: o.entries ?? [],
    commit: o.commit ?? 0,
  };
}

/** The terms of every entry in `r`'s log, from its first index. */
export function logTerms(r: Raft): number[] {
  return (r.log.slice(r.log.firstIndex(), r.log.lastIndex() + 1) ?? []).map((e) => e.term);
}

export function isType<T extends Message['type']>(type: T) {
  return (m: Message): m is Extract<Message, { type: T }> => m.type === type;
}
