/**
 * An in-memory network of RawNodes for tests (after etcd-io/raft's `network`). Delivery is synchronous and
 * deterministic: `deliver()` drains every node's Ready — persisting into a per-node MemoryStorage, applying
 * committed entries, collecting messages — and passes messages through the fault knobs until quiet.
 *
 * Knobs: drop(from, to, rate), cut(a, b) (both ways), oneWay(from, to), isolate(id), delay(from, to, ticks),
 * ignore(type), crash/restart (losing nothing that was persisted, since a Ready is persisted atomically).
 */
import type { Entry, HardState, Message, MessageType, NodeId, RaftConfig, Ready, Snapshot } from '../../src/index.js';
import { EntryKind, Prng, RawNode, StateRole, nodeId } from '../../src/index.js';

export interface MemoryStorage {
  hardState: HardState;
  entries: Entry[];
  offsetIndex: number;
  offsetTerm: number;
  snapshot: Snapshot | undefined;
  /** The state machine: commands applied, in order (noops skipped), and its applied index. */
  applied: { index: number; term: number; data: string }[];
  appliedIndex: number;
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
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const enc = (s: string): Uint8Array => encoder.encode(s);
export const dec = (b: Uint8Array): string => decoder.decode(b);

export class Network {
  readonly ids: NodeId[];
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storage = new Map<NodeId, MemoryStorage>();
  readonly down = new Set<NodeId>();
  /** Every message that was handed to the network, in order (after knobs decide its fate it may be dropped). */
  readonly trace: Message[] = [];
  readonly readStates = new Map<NodeId, Ready['readStates'][number][]>();
  private readonly dropRates = new Map<string, number>();
  private readonly delays = new Map<string, number>();
  private readonly ignored = new Set<MessageType>();
  private delayed: { m: Message; dueTick: number }[] = [];
  private now = 0;
  private readonly prng: Prng;
  private readonly opts: NetworkOptions;

  constructor(opts: NetworkOptions) {
    this.opts = opts;
    this.prng = new Prng(opts.seed ?? 1);
    this.ids = Array.from({ length: opts.size }, (_, i) => nodeId(i + 1));
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
      voters: this.ids,
      electionTick: this.opts.electionTick ?? 10,
      heartbeatTick: this.opts.heartbeatTick ?? 1,
      preVote: this.opts.preVote ?? false,
      checkQuorum: this.opts.checkQuorum ?? false,
      random: new Prng((this.opts.seed ?? 1) * 1000 + id),
      ...(this.opts.limits !== undefined ? { limits: this.opts.limits } : {}),
      ...(this.opts.plantedBugs !== undefined ? { plantedBugs: this.opts.plantedBugs } : {}),
      restore: {
        hardState: s.hardState,
        ...(s.snapshot !== undefined ? { snapshot: s.snapshot } : {}),
        offsetIndex: s.offsetIndex,
        offsetTerm: s.offsetTerm,
        entries: s.entries,
        applied: s.appliedIndex,
      },
    });
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

  recover(): void {
    this.dropRates.clear();
    this.delays.clear();
    this.ignored.clear();
  }

  /** Stops a node: it loses its in-memory state; its storage (everything persisted) stays. */
  crash(id: number): void {
    this.down.add(id as NodeId);
  }

  restart(id: number): void {
    this.down.delete(id as NodeId);
    this.nodes.set(id as NodeId, this.makeNode(id as NodeId));
  }

  // Driving -----------------------------------------------------------------------------------------

  /** Hands messages to the network and delivers until nothing is left to do. */
  send(...msgs: Message[]): void {
    const queue: Message[] = [];
    const enqueue = (m: Message): void => {
      this.trace.push(m);
      if (this.ignored.has(m.type)) return;
      const rate = this.dropRates.get(`${m.from}-${m.to}`) ?? 0;
      if (rate > 0 && this.prng.float() < rate) return;
      const delay = this.delays.get(`${m.from}-${m.to}`) ?? 0;
      if (delay > 0) {
        this.delayed.push({ m, dueTick: this.now + delay });
        return;
      }
      queue.push(m);
    };
    msgs.forEach(enqueue);
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
      persist(s, rd);
      rd.persistedMessages.forEach(out);
      for (const e of rd.committedEntries) {
        if (e.kind === EntryKind.Command) s.applied.push({ index: e.index, term: e.term, data: dec(e.data) });
        s.appliedIndex = e.index;
      }
      this.readStates.get(id)!.push(...rd.readStates);
      n.advance(rd);
    }
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
    const data = enc(JSON.stringify(s.applied));
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
    s.applied = JSON.parse(dec(rd.snapshot.data)) as MemoryStorage['applied'];
    s.appliedIndex = rd.snapshot.index;
  }
  const first = rd.entries[0];
  if (first !== undefined) {
    s.entries = s.entries.filter((e) => e.index < first.index);
    s.entries.push(...rd.entries);
  }
  if (rd.hardState !== undefined) s.hardState = rd.hardState;
}
