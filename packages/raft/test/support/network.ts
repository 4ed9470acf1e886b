/**
 * An in-memory network of RawNodes for tests (after etcd-io/raft's `network`). Delivery is synchronous and
 * deterministic: `deliver()` drains every node's Ready — persisting into a per-node MemoryStorage, applying
 * committed entries, collecting messages — and passes messages through the fault knobs until quiet.
 *
 * Knobs: drop(from, to, rate), cut(a, b) (both ways), oneWay(from, to), isolate(id), delay(from, to, ticks),
 * ignore(type), dropIf(predicate), hold(predicate)/release() (to reorder or duplicate), crash/restart (losing
 * nothing that was persisted, since a Ready is persisted atomically) and crashBeforePersist(id) (the node sends
 * its next Ready's early messages and dies before the write). `load(id, …)` restarts a node from a crafted
 * durable state. `leadersByTerm` records every leader seen, for Election Safety checks.
 */
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  RaftConfig,
  Ready,
  Snapshot,
  SnapshotData,
} from '../../src/index.js';
import { EntryKind, NONE, Prng, RawNode, StateRole, decodeConfChange, nodeId, snapshotBytes } from '../../src/index.js';

export interface MemoryStorage {
  hardState: HardState;
  entries: Entry[];
  offsetIndex: number;
  offsetTerm: number;
  snapshot: Snapshot | undefined;
  /** The state machine: commands applied, in order (noops skipped), and its applied index. */
  applied: { index: number; term: number; data: string }[];
  appliedIndex: number;
  /** The configuration last persisted from a Ready, and the index of its conf entry. */
  confState: ConfState | undefined;
  confIndex: number;
}

export function newStorage(): MemoryStorage {
  return {
    hardState: { term: 0, vote: 0 as NodeId, commit: 0 },
    entries: [],
    offsetIndex: 0,
    offsetTerm: 0,
    snapshot: undefined,
    applied: [],
    appliedIndex: 0,
    confState: undefined,
    confIndex: 0,
  };
}

export interface NetworkOptions {
  readonly size: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  readonly seed?: number;
  readonly limits?: RaftConfig['limits'];
  readonly plantedBugs?: RaftConfig['plantedBugs'];
  readonly recoverWhenEmpty?: boolean;
  /** Where followers write incoming snapshots (default: the core's, in memory). */
  readonly snapshotSink?: RaftConfig['snapshotSink'];
  /** How `compact` hands a snapshot's bytes to the core (default: the Uint8Array itself). */
  readonly snapshotData?: (bytes: Uint8Array) => SnapshotData;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const enc = (s: string): Uint8Array => encoder.encode(s);
export const dec = (b: Uint8Array): string => decoder.decode(b);

export class Network {
  readonly ids: NodeId[];
  /** The group's founding voters (nodes added later with addNode start outside the configuration). */
  readonly founders: readonly NodeId[];
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storage = new Map<NodeId, MemoryStorage>();
  readonly down = new Set<NodeId>();
  /** Every message that was handed to the network, in order (after knobs decide its fate it may be dropped). */
  readonly trace: Message[] = [];
  readonly readStates = new Map<NodeId, Ready['readStates'][number][]>();
  private readonly dropRates = new Map<string, number>();
  private readonly delays = new Map<string, number>();
  private readonly ignored = new Set<MessageType>();
  private readonly filters: ((m: Message) => boolean)[] = [];
  private holdPredicate: ((m: Message) => boolean) | undefined;
  /** Messages caught by hold(), in the order they were sent. */
  readonly held: Message[] = [];
  private readonly crashBeforePersistIds = new Set<NodeId>();
  /** Every node seen as leader, by term. Election Safety (Raft §5.2): at most one per term. */
  readonly leadersByTerm = new Map<number, Set<NodeId>>();
  private delayed: { m: Message; dueTick: number }[] = [];
  private now = 0;
  private readonly prng: Prng;
  private readonly opts: NetworkOptions;

  constructor(opts: NetworkOptions) {
    this.opts = opts;
    this.prng = new Prng(opts.seed ?? 1);
    this.ids = Array.from({ length: opts.size }, (_, i) => nodeId(i + 1));
    this.founders = [...this.ids];
    for (const id of this.ids) {
      this.storage.set(id, newStorage());
      this.nodes.set(id, this.makeNode(id));
      this.readStates.set(id, []);
    }
  }

  private makeNode(id: NodeId): RawNode {
    const s = this.storage.get(id)!;
    return new RawNode({
      id,
      voters: this.founders,
      electionTick: this.opts.electionTick ?? 10,
      heartbeatTick: this.opts.heartbeatTick ?? 1,
      preVote: this.opts.preVote ?? false,
      checkQuorum: this.opts.checkQuorum ?? false,
      random: new Prng((this.opts.seed ?? 1) * 1000 + id),
      ...(this.opts.limits !== undefined ? { limits: this.opts.limits } : {}),
      ...(this.opts.plantedBugs !== undefined ? { plantedBugs: this.opts.plantedBugs } : {}),
      ...(this.opts.recoverWhenEmpty !== undefined ? { recoverWhenEmpty: this.opts.recoverWhenEmpty } : {}),
      ...(this.opts.snapshotSink !== undefined ? { snapshotSink: this.opts.snapshotSink } : {}),
      restore: {
        hardState: s.hardState,
        ...(s.snapshot !== undefined ? { snapshot: s.snapshot } : {}),
        offsetIndex: s.offsetIndex,
        offsetTerm: s.offsetTerm,
        entries: s.entries,
        applied: s.appliedIndex,
        ...(s.confState !== undefined ? { confState: s.confState, confIndex: s.confIndex } : {}),
      },
    });
  }

  /**
   * Starts a new node `id` with an empty disk, outside the configuration (a learner-in-waiting): it hears the
   * leader once a conf entry names it, and takes the configuration from the log or a snapshot.
   */
  addNode(id: number): RawNode {
    const nid = nodeId(id);
    if (this.nodes.has(nid)) throw new Error(`node ${id} exists`);
    this.ids.push(nid);
    this.storage.set(nid, newStorage());
    this.readStates.set(nid, []);
    const n = this.makeNode(nid);
    this.nodes.set(nid, n);
    return n;
  }

  node(id: number): RawNode {
    const n = this.nodes.get(id as NodeId);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** The node that believes it is leader with the highest term, if any. */
  leader(): RawNode | undefined {
    let best: RawNode | undefined;
    for (const [id, n] of this.nodes) {
      if (this.down.has(id) || n.raft.role !== StateRole.Leader) continue;
      if (best === undefined || n.raft.term > best.raft.term) best = n;
    }
    return best;
  }

  // Knobs -------------------------------------------------------------------------------------------

  drop(from: number, to: number, rate: number): void {
    this.dropRates.set(`${from}-${to}`, rate);
  }

  cut(a: number, b: number): void {
    this.drop(a, b, 1);
    this.drop(b, a, 1);
  }

  oneWay(from: number, to: number): void {
    this.drop(from, to, 1);
  }

  isolate(id: number): void {
    for (const other of this.ids) {
      if (other !== id) this.cut(id, other);
    }
  }

  delay(from: number, to: number, ticks: number): void {
    this.delays.set(`${from}-${to}`, ticks);
  }

  ignore(type: MessageType): void {
    this.ignored.add(type);
  }

  /** Drops every message for which `predicate` is true, until recover(). */
  dropIf(predicate: (m: Message) => boolean): void {
    this.filters.push(predicate);
  }

  /** Holds back every message for which `predicate` is true (see release). */
  hold(predicate: (m: Message) => boolean): void {
    this.holdPredicate = predicate;
  }

  /**
   * Stops holding and delivers the held messages, optionally in reverse order and/or each twice. Returns how
   * many distinct messages were released.
   */
  release(opts: { reverse?: boolean; duplicate?: boolean } = {}): number {
    this.holdPredicate = undefined;
    const msgs = this.held.splice(0, this.held.length);
    if (opts.reverse === true) msgs.reverse();
    const out = opts.duplicate === true ? msgs.flatMap((m) => [m, m]) : msgs;
    this.run(out, false);
    return msgs.length;
  }

  recover(): void {
    this.dropRates.clear();
    this.delays.clear();
    this.ignored.clear();
    this.filters.length = 0;
    this.holdPredicate = undefined;
  }

  /** Stops a node: it loses its in-memory state; its storage (everything persisted) stays. */
  crash(id: number): void {
    this.down.add(id as NodeId);
  }

  restart(id: number): void {
    this.down.delete(id as NodeId);
    this.nodes.set(id as NodeId, this.makeNode(id as NodeId));
  }

  /** The node sends the early messages of its next Ready, then dies before persisting it. */
  crashBeforePersist(id: number): void {
    this.crashBeforePersistIds.add(id as NodeId);
  }

  /**
   * Replaces `id`'s durable state with a crafted log (entry i has term terms[i] and index i + 1) and hard
   * state, then restarts it from there. The state machine is taken to have applied up to `applied`.
   */
  load(
    id: number,
    state: { terms: readonly number[]; term: number; vote?: number; commit?: number; applied?: number },
  ): void {
    const s = newStorage();
    s.entries = state.terms.map((term, i) => ({
      term,
      index: i + 1,
      kind: EntryKind.Command,
      data: enc(`t${term}i${i + 1}`),
    }));
    s.hardState = { term: state.term, vote: (state.vote ?? NONE) as NodeId, commit: state.commit ?? 0 };
    s.appliedIndex = state.applied ?? 0;
    s.applied = s.entries.slice(0, s.appliedIndex).map((e) => ({ index: e.index, term: e.term, data: dec(e.data) }));
    this.storage.set(id as NodeId, s);
    this.restart(id);
  }

  // Driving -----------------------------------------------------------------------------------------

  /** Hands messages to the network and delivers until nothing is left to do. */
  send(...msgs: Message[]): void {
    this.run(msgs, true);
  }

  /** Delivers `msgs` (through the knobs unless `throughKnobs` is false) and everything they cause. */
  private run(msgs: readonly Message[], throughKnobs: boolean): void {
    const queue: Message[] = [];
    const enqueue = (m: Message): void => {
      this.trace.push(m);
      if (this.ignored.has(m.type)) return;
      if (this.filters.some((f) => f(m))) return;
      const rate = this.dropRates.get(`${m.from}-${m.to}`) ?? 0;
      if (rate > 0 && this.prng.float() < rate) return;
      if (this.holdPredicate?.(m) === true) {
        this.held.push(m);
        return;
      }
      const delay = this.delays.get(`${m.from}-${m.to}`) ?? 0;
      if (delay > 0) {
        this.delayed.push({ m, dueTick: this.now + delay });
        return;
      }
      queue.push(m);
    };
    if (throughKnobs) msgs.forEach(enqueue);
    else queue.push(...msgs);
    for (const id of this.ids) this.drain(id, enqueue);
    let guard = 0;
    while (queue.length > 0) {
      if (++guard > 1_000_000) throw new Error('network did not quiesce');
      const m = queue.shift()!;
      if (this.down.has(m.to)) continue;
      this.node(m.to).step(m);
      this.drain(m.to, enqueue);
    }
  }

  /** Delivers pending work without new messages. */
  deliver(): void {
    this.send();
  }

  /** Ticks every live node once (or only `only`), releases due delayed messages, and delivers. */
  tick(only?: number[]): void {
    this.now++;
    for (const id of only ?? this.ids) if (!this.down.has(id as NodeId)) this.node(id).tick();
    const due = this.delayed.filter((d) => d.dueTick <= this.now);
    this.delayed = this.delayed.filter((d) => d.dueTick > this.now);
    this.send(...due.map((d) => d.m));
  }

  ticks(n: number, only?: number[]): void {
    for (let i = 0; i < n; i++) this.tick(only);
  }

  /** Makes `id` campaign and delivers the election. */
  campaign(id: number): void {
    this.node(id).campaign();
    this.deliver();
  }

  propose(id: number, data: string): { index: number; term: number } {
    const r = this.node(id).propose(enc(data));
    this.deliver();
    return r;
  }

  /** Drains one node's Readys: persist, send, apply, advance. */
  drain(id: NodeId, out: (m: Message) => void): void {
    if (this.down.has(id)) return;
    const n = this.node(id);
    const s = this.storage.get(id)!;
    while (n.hasReady()) {
      const rd = n.ready();
      rd.messages.forEach(out);
      if (this.crashBeforePersistIds.delete(id)) {
        this.down.add(id); // the Ready's writes, and the messages that wait for them, are lost
        return;
      }
      persist(s, rd);
      rd.persistedMessages.forEach(out);
      for (const e of rd.committedEntries) {
        if (e.kind === EntryKind.Command) s.applied.push({ index: e.index, term: e.term, data: dec(e.data) });
        if (e.kind === EntryKind.Conf) n.applyConfChange(decodeConfChange(e.data), e.index);
        s.appliedIndex = e.index;
      }
      this.readStates.get(id)!.push(...rd.readStates);
      n.advance(rd);
      if (n.raft.role === StateRole.Leader) {
        const leaders = this.leadersByTerm.get(n.raft.term) ?? new Set<NodeId>();
        leaders.add(id);
        this.leadersByTerm.set(n.raft.term, leaders);
      }
    }
  }

  /** Terms in which more than one node was leader (Election Safety violations, Raft §5.2). */
  electionSafetyViolations(): { term: number; leaders: NodeId[] }[] {
    return [...this.leadersByTerm]
      .filter(([, leaders]) => leaders.size > 1)
      .map(([term, leaders]) => ({ term, leaders: [...leaders].sort((a, b) => a - b) }));
  }

  /**
   * State Machine Safety (Raft §5.4.3): every pair of nodes agrees on each index both have committed (by the
   * entry's term, from the durable logs) and on each command both have applied. Returns the disagreements.
   */
  safetyViolations(): string[] {
    const out: string[] = [];
    const committed = new Map<number, { id: NodeId; term: number }>();
    const applied = new Map<number, { id: NodeId; data: string }>();
    for (const id of this.ids) {
      const s = this.storage.get(id)!;
      for (const e of s.entries) {
        if (e.index > s.hardState.commit) break;
        const seen = committed.get(e.index);
        if (seen === undefined) committed.set(e.index, { id, term: e.term });
        else if (seen.term !== e.term)
          out.push(`index ${e.index} committed as term ${seen.term} on ${seen.id}, ${e.term} on ${id}`);
      }
      for (const a of s.applied) {
        const seen = applied.get(a.index);
        if (seen === undefined) applied.set(a.index, { id, data: a.data });
        else if (seen.data !== a.data)
          out.push(`index ${a.index} applied as ${seen.data} on ${seen.id}, ${a.data} on ${id}`);
      }
    }
    return out;
  }

  /** Ticks (all live nodes, or `only`) until `done()` holds; returns the ticks it took. Throws after `maxTicks`. */
  tickUntil(done: () => boolean, maxTicks: number, only?: number[]): number {
    for (let i = 0; i < maxTicks; i++) {
      if (done()) return i;
      this.tick(only);
    }
    if (done()) return maxTicks;
    throw new Error(`condition not reached within ${maxTicks} ticks`);
  }

  /** A position in the trace, for since(). */
  mark(): number {
    return this.trace.length;
  }

  /** Messages handed to the network since `mark`, optionally filtered. */
  since<T extends Message>(mark: number, predicate: (m: Message) => m is T): T[];
  since(mark: number, predicate?: (m: Message) => boolean): Message[];
  since(mark: number, predicate?: (m: Message) => boolean): Message[] {
    const msgs = this.trace.slice(mark);
    return predicate === undefined ? msgs : msgs.filter(predicate);
  }

  /** Asks `id` for a read index with `context`, and delivers. */
  readIndex(id: number, context: string): void {
    this.node(id).readIndex(context);
    this.deliver();
  }

  /** Asks `id` to move leadership to `to`, and delivers. */
  transferLeader(id: number, to: number): void {
    this.node(id).transferLeader(to as NodeId);
    this.deliver();
  }

  /** Commands applied by `id`, in order. */
  applied(id: number): string[] {
    return this.storage.get(id as NodeId)!.applied.map((a) => a.data);
  }

  /** The persisted log of `id`, as "term/index" pairs. */
  persistedLog(id: number): { index: number; term: number; kind: string; data: string }[] {
    return this.storage
      .get(id as NodeId)!
      .entries.map((e) => ({ index: e.index, term: e.term, kind: e.kind, data: dec(e.data) }));
  }

  /** Takes a snapshot of `id`'s state machine at its applied index and compacts its log there. */
  compact(id: number, compactTo?: number): Snapshot {
    const s = this.storage.get(id as NodeId)!;
    const bytes = enc(JSON.stringify(s.applied));
    const data = this.opts.snapshotData?.(bytes) ?? bytes;
    const snap = this.node(id).compact(s.appliedIndex, data, compactTo ?? s.appliedIndex);
    s.snapshot = snap;
    const off = this.node(id).raft.log.offset();
    s.entries = s.entries.filter((e) => e.index > off.index);
    s.offsetIndex = off.index;
    s.offsetTerm = off.term;
    return snap;
  }
}

/** Applies a Ready's writes to a MemoryStorage, as a durable store would. */
export function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) {
    s.snapshot = rd.snapshot;
    s.entries = [];
    s.offsetIndex = rd.snapshot.index;
    s.offsetTerm = rd.snapshot.term;
    s.applied = JSON.parse(dec(snapshotBytes(rd.snapshot.data))) as MemoryStorage['applied'];
    s.appliedIndex = rd.snapshot.index;
  }
  const first = rd.entries[0];
  if (first !== undefined) {
    s.entries = s.entries.filter((e) => e.index < first.index);
    s.entries.push(...rd.entries);
  }
  if (rd.hardState !== undefined) s.hardState = rd.hardState;
  if (rd.confState !== undefined) {
    s.confState = rd.confState.state;
    s.confIndex = rd.confState.index;
  }
}

/** One line per message, for golden scenario transcripts. */
export function render(m: Message): string {
  const head = `${m.from}→${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'MsgApp': {
      const ents = m.entries.map((e) => `${e.index}:${e.term}`).join(' ');
      return `${head} prev=(${m.index},${m.logTerm}) entries=[${ents}] commit=${m.commit}`;
    }
    case 'MsgAppResp':
      return m.reject
        ? `${head} reject index=${m.index} hint=(${m.rejectHint},${m.logTerm})`
        : `${head} accept index=${m.index}`;
    case 'MsgVote':
    case 'MsgPreVote':
      return `${head} last=(${m.index},${m.logTerm})${m.transfer ? ' transfer' : ''}`;
    case 'MsgVoteResp':
    case 'MsgPreVoteResp':
      return `${head} ${m.reject ? 'reject' : 'grant'}`;
    case 'MsgHeartbeat':
      return `${head} commit=${m.commit}${m.context !== null ? ` ctx=${m.context}` : ''}`;
    case 'MsgSnap':
      return `${head} snap=(${m.snapshot.index},${m.snapshot.term}) bytes=[${m.offset},${m.offset + m.data.length})/${m.totalBytes}`;
    case 'MsgSnapResp':
      return `${head} snap=${m.index} offset=${m.offset}`;
    case 'MsgHeartbeatResp':
      return `${head}${m.context !== null ? ` ctx=${m.context}` : ''}`;
    case 'MsgReadIndex':
      return `${head} ctx=${m.context}`;
    case 'MsgReadIndexResp':
      return `${head} ctx=${m.context} ${m.reject ? 'reject' : `index=${m.index}`}`;
    case 'MsgTransferLeader':
      return `${head} to=${m.transferee}`;
    case 'MsgTimeoutNow':
      return head;
  }
}
