/**
 * The safety checkers of the simulator. Each check names the Raft property it guards:
 *
 * - election-safety: at most one leader per term per group (§5.2).
 * - log-matching: two logs with an entry of the same index and term hold the same command there, and
 *   agree on everything before it (§5.3).
 * - leader-completeness: a new leader of term T holds every entry known to be committed before T (§5.4):
 *   an entry first applied by a node in term t was committed in a term ≤ t.
 * - commit-safety: when an entry is first applied, no node whose durable log lacks it could win an
 *   election against the durable logs of a quorum (the up-to-date rule of §5.4.1). This flags a commit
 *   that only looks safe, as in Figure 8, before any later leader overwrites it. With membership changes the
 *   quorum is the candidate's own configuration (both halves while joint), and only nodes whose configuration
 *   names the candidate answer it: a commit by the new half alone of a joint configuration is caught here. A
 *   candidate is judged with the configuration it would campaign with: its own plus the conf entries up to its
 *   durable commit, which it applies before campaigning (raft.ts hup).
 * - state-machine-safety: every node applies the same entry at each index, and a snapshot restores the
 *   same digest the others reached by applying (§5.4.3).
 * - durable-monotonic: a node's durable term and commit never go back (unless its disk is lost).
 * - acked-durable: every acknowledged proposal is applied on every node at the end.
 * - stale-read: a ReadIndex read point is never behind a write acknowledged before the read began.
 * - core-assertion: the core's own invariants (asserted after every step, tick and advance).
 * - liveness: after healing, every group elects a leader and commits a fresh entry within the bound.
 */
import type { ConfChangeV2, ConfState, Entry, HardState, NodeId } from '@kalam/raft';
import { allMembers, applyChange, decodeConfChange, EntryKind, isVoter } from '@kalam/raft';
import { SIM_LIMITS } from './options.js';

export interface Violation {
  readonly invariant: string;
  readonly detail: string;
  /** Simulated milliseconds when it was seen. */
  readonly tick: number;
  readonly group?: number;
}

interface Canonical {
  /** Per applied index: term, command key and the state machine digest after applying it. */
  readonly term: number[];
  readonly data: string[];
  readonly digest: number[];
  /** Per applied index: the lowest current term of a node that applied it (an upper bound of its commit term). */
  readonly committedBy: number[];
  /** (index:term) → command key, over every durable log write of any node. */
  readonly logged: Map<string, string>;
  /** (index:term) → the membership change of a conf entry, over every durable log write of any node. */
  readonly confLogged: Map<string, ConfChangeV2>;
  readonly leaders: Map<number, NodeId>;
  maxApplied: number;
}

/** A node's durable log as the commit-safety check sees it. */
export interface DurableLogView {
  readonly node: NodeId;
  readonly offsetIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The term at `index`, for offsetIndex < index ≤ lastIndex. */
  termAt(index: number): number | undefined;
  /** The configuration the node holds (its core's, or the last one seen before it went down). */
  readonly conf: ConfState;
  /** The index of the conf entry that configuration came from (0: the founding one). */
  readonly confIndex: number;
  /** The durable commit index. */
  readonly commit: number;
}

export class Checker {
  readonly violations: Violation[] = [];
  private readonly groups: Canonical[];
  private readonly durable = new Map<string, HardState>();
  now = 0;

  constructor(groupCount: number) {
    this.groups = Array.from({ length: groupCount }, () => ({
      term: [],
      data: [],
      digest: [],
      committedBy: [],
      logged: new Map(),
      confLogged: new Map(),
      leaders: new Map(),
      maxApplied: 0,
    }));
  }

  get failed(): boolean {
    return this.violations.length > 0;
  }

  violate(invariant: string, detail: string, group?: number): void {
    if (this.violations.length >= SIM_LIMITS.violationsMax) return;
    this.violations.push({ invariant, detail, tick: this.now, ...(group !== undefined ? { group } : {}) });
  }

  private g(group: number): Canonical {
    const c = this.groups[group];
    if (c === undefined) throw new RangeError(`no group ${group}`);
    return c;
  }

  onLeader(group: number, term: number, node: NodeId): void {
    const leaders = this.g(group).leaders;
    const prev = leaders.get(term);
    if (prev !== undefined && prev !== node) {
      this.violate('election-safety', `nodes ${prev} and ${node} both lead term ${term}`, group);
    }
    leaders.set(term, node);
  }

  /** A node wrote entries durably. */
  onLogged(group: number, node: NodeId, entries: readonly Entry[], key: (e: Entry) => string): void {
    const { logged, confLogged } = this.g(group);
    for (const e of entries) {
      const k = `${e.index}:${e.term}`;
      const data = key(e);
      if (e.kind === EntryKind.Conf && !confLogged.has(k)) confLogged.set(k, decodeConfChange(e.data));
      const prev = logged.get(k);
      if (prev === undefined) logged.set(k, data);
      else if (prev !== data) {
        this.violate(
          'log-matching',
          `node ${node} logged ${data} at index ${e.index} term ${e.term}, others ${prev}`,
          group,
        );
      }
    }
  }

  onDurableHardState(group: number, node: NodeId, hs: HardState): void {
    const k = `${group}/${node}`;
    const prev = this.durable.get(k);
    if (prev !== undefined && (hs.term < prev.term || hs.commit < prev.commit)) {
      this.violate(
        'durable-monotonic',
        `node ${node} durable term/commit ${prev.term}/${prev.commit} → ${hs.term}/${hs.commit}`,
        group,
      );
    }
    this.durable.set(k, hs);
  }

  /** A node lost its disk (raft.db): its durable term and commit start again from nothing. */
  onDiskLost(node: NodeId): void {
    for (const k of [...this.durable.keys()]) if (k.endsWith(`/${node}`)) this.durable.delete(k);
  }

  /** A node applied `index`; `digest` is its state machine digest afterwards. */
  onApplied(
    group: number,
    node: NodeId,
    index: number,
    term: number,
    data: string,
    digest: number,
    nodeTerm: number,
  ): void {
    const c = this.g(group);
    c.committedBy[index] = Math.min(c.committedBy[index] ?? Infinity, nodeTerm);
    const known = c.term[index];
    if (known === undefined) {
      c.term[index] = term;
      c.data[index] = data;
      c.digest[index] = digest;
      c.maxApplied = Math.max(c.maxApplied, index);
      return;
    }
    if (known !== term || c.data[index] !== data || c.digest[index] !== digest) {
      this.violate(
        'state-machine-safety',
        `node ${node} applied ${data}@t${term} at index ${index}; others applied ${c.data[index]}@t${known}`,
        group,
      );
    }
  }

  /**
   * The configuration `c` would campaign with: a node does not campaign while a conf entry it knows to be
   * committed is unapplied (raft.ts hup, as etcd's), so the conf entries of its log up to its durable commit
   * are in force first. Without this a node that went down knowing its demotion was committed would count
   * as a candidate of the configuration it held before.
   */
  private campaignConf(group: number, c: DurableLogView): ConfState {
    const { confLogged } = this.g(group);
    let conf = c.conf;
    const hi = Math.min(c.commit, c.lastIndex);
    for (let i = Math.max(c.confIndex, c.offsetIndex) + 1; i <= hi; i++) {
      const cc = confLogged.get(`${i}:${c.termAt(i)}`);
      if (cc === undefined) continue;
      try {
        conf = applyChange(conf, cc);
      } catch {
        // An invalid change is refused on apply by every node alike: it changes nothing.
      }
    }
    return conf;
  }

  /** Called when `index` (of `term`) is applied for the first time anywhere. */
  checkCommitSafety(group: number, index: number, term: number, logs: readonly DurableLogView[]): void {
    for (const c of logs) {
      const has = index <= c.offsetIndex || (index <= c.lastIndex && c.termAt(index) === term);
      if (has) continue;
      const conf = this.campaignConf(group, c);
      if (!isVoter(conf, c.node)) continue;
      const voters = logs.filter(
        (v) =>
          (v.node === c.node || allMembers(v.conf).includes(c.node)) &&
          (c.lastTerm > v.lastTerm || (c.lastTerm === v.lastTerm && c.lastIndex >= v.lastIndex)),
      );
      if (wins(conf, new Set(voters.map((v) => v.node)))) {
        this.violate(
          'commit-safety',
          `entry ${index}@t${term} was applied, yet node ${c.node} lacks it and could be elected by nodes ${voters.map((v) => v.node).join(',')}`,
          group,
        );
        return;
      }
    }
  }

  isFirstApply(group: number, index: number): boolean {
    return this.g(group).term[index] === undefined;
  }

  /** A node restored a snapshot at `index` with digest `digest`. */
  onSnapshotRestored(group: number, node: NodeId, index: number, digest: number): void {
    const known = this.g(group).digest[index];
    if (known !== undefined && known !== digest) {
      this.violate('state-machine-safety', `node ${node} restored a snapshot at ${index} whose digest differs`, group);
    }
  }

  /** A node just became leader of `leaderTerm`: it must hold every entry committed in an earlier term. */
  onBecameLeader(
    group: number,
    node: NodeId,
    leaderTerm: number,
    term: (index: number) => number | undefined,
    firstIndex: number,
  ): void {
    const c = this.g(group);
    for (let i = Math.max(firstIndex, 1); i <= c.maxApplied; i++) {
      const expected = c.term[i];
      const committedBy = c.committedBy[i];
      if (expected === undefined || committedBy === undefined || committedBy >= leaderTerm) continue;
      if (term(i) !== expected) {
        this.violate(
          'leader-completeness',
          `leader ${node} has term ${term(i)} at applied index ${i}, expected ${expected}`,
          group,
        );
        return;
      }
    }
  }

  canonicalData(group: number, index: number): string | undefined {
    return this.g(group).data[index];
  }
}

/** Would these voters elect a candidate under `conf`: a majority of each half. */
function wins(conf: ConfState, yes: ReadonlySet<NodeId>): boolean {
  const majority = (ids: readonly NodeId[]): boolean =>
    ids.length === 0 || ids.filter((id) => yes.has(id)).length > ids.length / 2;
  return majority(conf.voters) && majority(conf.votersOutgoing);
}
