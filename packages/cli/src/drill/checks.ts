/**
 * The checks of a drill, run after the final heal. Each is a pure function of what the run recorded, so a
 * doctored history or digest set can be fed to it in a test; each answers `{name, passed, detail}`.
 *
 * - linearizable: @kalam/check over the whole history (the final reads included) within a time budget; a
 *   `timeout` verdict (a key left undecided) is a failure, not a pass.
 * - no-lost-acks: per key, every node's final read must answer, all must agree, and the value F must be the
 *   initial value or the value of some write / cas that is not recorded as failed. Let P be the call that wrote F
 *   (none when F is the initial value, which then counts as written before everything). An acknowledged write A
 *   (a write ok, or a cas ok with {ok: true}) other than P is LOST when P completed before A was invoked: A
 *   follows P in real time, so the register cannot hold P's value at the end unless A vanished (values are unique,
 *   so no later write can have restored F). A P whose outcome is unknown has no completion time and loses nothing.
 * - converged: per group, every node reports a digest at the same applied index, and the digests are equal.
 * - availability: per fault (kill, restart, partition, flaky network, slow disk) and per affected group (the
 *   groups the faulted node led when the fault began, or every group of the workload when it led none): the time
 *   until the group had a leader again (other than the faulted node when the fault takes the node away), from
 *   the status samples (the faulted node itself counts once it was elected in a later term), and until the group
 *   completed an ok call invoked after the fault. It fails when a group
 *   never had a leader again, when calls to it after the fault never succeeded, or when a figure is over the
 *   drill's optional bound.
 */
import type { Operation, Value } from '@kalam/check';
import { checkLinearizability, describeOperation } from '@kalam/check';
import type { GroupDigests, NodeId } from '../cluster/types.js';
import type { CallMeta } from './workload.js';

export interface CheckOutcome {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

/** Most problems a detail line lists before "… and N more". */
const DETAIL_ITEMS_MAX = 3;

function listed(items: readonly string[]): string {
  const shown = items.slice(0, DETAIL_ITEMS_MAX).join('; ');
  return items.length > DETAIL_ITEMS_MAX ? `${shown}; … and ${items.length - DETAIL_ITEMS_MAX} more` : shown;
}

export function checkLinearizable(
  history: readonly Operation[],
  initialValues: Readonly<Record<string, Value>>,
  budgetMs: number,
): CheckOutcome {
  const r = checkLinearizability(history, { timeoutMs: budgetMs, initialValues });
  const counts = `${r.operations} calls over ${r.keys} keys checked, ${r.dropped} dropped, ${Math.round(r.durationMs)} ms`;
  if (r.verdict === 'linearizable') return { name: 'linearizable', passed: true, detail: counts };
  if (r.verdict === 'timeout') {
    const keys = r.undecided.map((u) => `${u.key} (${u.reason}, ${u.operations} calls)`);
    return {
      name: 'linearizable',
      passed: false,
      detail: `undecided within the ${budgetMs} ms budget: ${listed(keys)}; ${counts}`,
    };
  }
  const first = r.failures[0];
  const ops = first === undefined ? [] : (first.minimal ?? first.operations).slice(0, 8).map(describeOperation);
  return {
    name: 'linearizable',
    passed: false,
    detail: `${r.failures.length} key(s) not linearizable; first ${first?.key ?? '?'}: ${ops.join(' | ')}; ${counts}`,
  };
}

/** What one node answered to the final read of one key: its value, or why there was none. */
export type FinalRead = { readonly value: Value } | { readonly error: string };

/** key → node id → final read. */
export type FinalReads = ReadonlyMap<string, ReadonlyMap<NodeId, FinalRead>>;

/** The value a write or a CAS that may have taken effect put in its key (undefined: a read, or a CAS refused). */
export function writtenValue(op: Operation): Value | undefined {
  if (op.kind === 'write') return op.input;
  if (op.kind === 'cas' && op.output?.ok !== false) return op.input.value;
  return undefined;
}

/** A write or a CAS the cluster acknowledged as done. */
export function isAckedWrite(op: Operation): boolean {
  if (op.outcome !== 'ok') return false;
  return op.kind === 'write' || (op.kind === 'cas' && op.output?.ok === true);
}

export function checkNoLostAcks(
  history: readonly Operation[],
  finalReads: FinalReads,
  initialValues: Readonly<Record<string, Value>>,
): CheckOutcome {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  const problems: string[] = [];
  let acked = 0;
  for (const [key, reads] of finalReads) {
    const answers = [...reads.entries()];
    const missing = answers.filter(([, r]) => 'error' in r);
    if (answers.length === 0 || missing.length > 0) {
      const who = missing.map(([n, r]) => `node ${n}: ${'error' in r ? r.error : ''}`);
      problems.push(`${key}: no final read (${who.join(', ') || 'no node answered'})`);
      continue;
    }
    const values = answers.map(([n, r]) => [n, 'value' in r ? r.value : null] as const);
    const final = values[0]?.[1] ?? null;
    if (values.some(([, v]) => v !== final)) {
      problems.push(`${key}: nodes disagree (${values.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(', ')})`);
      continue;
    }
    const ops = byKey.get(key) ?? [];
    const initial = Object.hasOwn(initialValues, key) ? (initialValues[key] ?? null) : null;
    const writers = ops.filter((op) => writtenValue(op) === final);
    let producedAtMs: number;
    let producer: Operation | undefined;
    if (final === initial && writers.length === 0) {
      producedAtMs = Number.NEGATIVE_INFINITY;
    } else {
      producer = writers.find((op) => op.outcome !== 'failed');
      if (producer === undefined) {
        problems.push(
          writers.length === 0
            ? `${key}: final value ${JSON.stringify(final)} was never written`
            : `${key}: final value ${JSON.stringify(final)} comes from a call recorded as failed (${describeOperation(writers[0] as Operation)})`,
        );
        continue;
      }
      producedAtMs = producer.outcome === 'ok' ? (producer.completedAtMs ?? Number.POSITIVE_INFINITY) : Infinity;
    }
    for (const op of ops) {
      if (!isAckedWrite(op) || op === producer) continue;
      acked++;
      if (producedAtMs < op.invokedAtMs) {
        const by = producer === undefined ? 'the initial value' : describeOperation(producer);
        problems.push(`${key}: acknowledged ${describeOperation(op)} lost: the final value comes from ${by}`);
      }
    }
  }
  if (problems.length > 0) {
    return { name: 'no-lost-acks', passed: false, detail: `${problems.length} problem(s): ${listed(problems)}` };
  }
  return {
    name: 'no-lost-acks',
    passed: true,
    detail: `${finalReads.size} keys agree on every node; ${acked} acknowledged writes accounted for`,
  };
}

/** node id → its digests; a node whose digests could not be read maps to an error line. */
export type NodeDigests = ReadonlyMap<NodeId, GroupDigests | { readonly error: string }>;

/** Whether every group reports one applied index on every node (the runner polls until it does). */
export function appliedIndexesMatch(digests: NodeDigests): boolean {
  const byGroup = new Map<string, Set<number>>();
  for (const d of digests.values()) {
    if ('error' in d && typeof d.error === 'string') return false;
    for (const [group, g] of Object.entries(d as GroupDigests)) {
      const set = byGroup.get(group) ?? new Set<number>();
      set.add(g.applied);
      byGroup.set(group, set);
    }
  }
  return [...byGroup.values()].every((s) => s.size === 1);
}

export function checkConverged(digests: NodeDigests): CheckOutcome {
  const problems: string[] = [];
  const groups = new Set<string>();
  const perNode: [NodeId, GroupDigests][] = [];
  for (const [node, d] of digests) {
    if ('error' in d && typeof d.error === 'string') problems.push(`node ${node}: ${d.error}`);
    else {
      perNode.push([node, d as GroupDigests]);
      for (const g of Object.keys(d)) groups.add(g);
    }
  }
  for (const group of [...groups].sort()) {
    const seen = perNode.map(([node, d]) => [node, d[group]] as const);
    const absent = seen.filter(([, g]) => g === undefined).map(([n]) => n);
    if (absent.length > 0) {
      problems.push(`${group}: no digest from node ${absent.join(', ')}`);
      continue;
    }
    const applied = new Set(seen.map(([, g]) => g?.applied));
    if (applied.size > 1) {
      problems.push(`${group}: applied indexes differ (${seen.map(([n, g]) => `${n}@${g?.applied}`).join(', ')})`);
      continue;
    }
    const digestSet = new Set(seen.map(([, g]) => g?.digest));
    if (digestSet.size > 1) {
      const at = seen[0]?.[1]?.applied ?? 0;
      problems.push(
        `${group}: digests differ at applied index ${at} (${seen.map(([n, g]) => `${n}=${g?.digest.slice(0, 12)}`).join(', ')})`,
      );
    }
  }
  if (problems.length > 0) {
    return { name: 'converged', passed: false, detail: `${problems.length} problem(s): ${listed(problems)}` };
  }
  return { name: 'converged', passed: true, detail: `${groups.size} groups equal on ${perNode.length} nodes` };
}

/** A fault step as the runner saw it begin. */
export interface FaultRecord {
  readonly step: number;
  readonly action: string;
  readonly node: NodeId;
  readonly atMs: number;
  /** The fault takes the node away (kill, restart, partition): a new leader must be another node. */
  readonly removesNode: boolean;
  /** Groups the node led when the fault began. */
  readonly ledGroups: readonly string[];
  /** Each group's term when the fault began: the same node leading in a later term was elected again. */
  readonly terms?: Readonly<Record<string, number>>;
}

/** One status sample: each group's leader (null: none) at `atMs`, on the run's clock. */
export interface LeaderSample {
  readonly atMs: number;
  readonly leaders: Readonly<Record<string, NodeId | null>>;
  readonly terms?: Readonly<Record<string, number>>;
}

export interface AvailabilityFigure {
  readonly step: number;
  readonly action: string;
  readonly node: NodeId;
  readonly group: string;
  /** Why the group counts: the node led it, or the node led nothing and the workload touched it. */
  readonly affected: 'led' | 'workload';
  /** ms from the fault to the first sample showing a leader (another node when the fault removes the node). */
  readonly leaderAfterMs: number | null;
  /** ms from the fault to the first ok completion of a call to the group invoked after the fault. */
  readonly servedAfterMs: number | null;
  /** Calls to the group invoked after the fault. */
  readonly callsAfter: number;
}

export function computeAvailability(
  faults: readonly FaultRecord[],
  history: readonly Operation[],
  meta: readonly (CallMeta | undefined)[],
  samples: readonly LeaderSample[],
  workloadGroups: readonly string[],
): AvailabilityFigure[] {
  const figures: AvailabilityFigure[] = [];
  for (const fault of faults) {
    const led = fault.ledGroups.length > 0;
    const groups = led ? fault.ledGroups : workloadGroups;
    for (const group of groups) {
      const sample = samples.find((s) => {
        if (s.atMs < fault.atMs) return false;
        const leader = s.leaders[group];
        if (leader === null || leader === undefined) return false;
        if (!fault.removesNode || leader !== fault.node) return true;
        // The faulted node leads again: only once it was elected anew, in a later term.
        const before = fault.terms?.[group];
        const now = s.terms?.[group];
        return before !== undefined && now !== undefined && now > before;
      });
      let served = Number.POSITIVE_INFINITY;
      let callsAfter = 0;
      for (const op of history) {
        if (meta[op.id]?.group !== group || op.invokedAtMs < fault.atMs) continue;
        callsAfter++;
        if (op.outcome === 'ok' && op.completedAtMs !== null) served = Math.min(served, op.completedAtMs);
      }
      figures.push({
        step: fault.step,
        action: fault.action,
        node: fault.node,
        group,
        affected: led ? 'led' : 'workload',
        leaderAfterMs: sample === undefined ? null : Math.max(0, sample.atMs - fault.atMs),
        servedAfterMs: Number.isFinite(served) ? served - fault.atMs : null,
        callsAfter,
      });
    }
  }
  return figures;
}

export function checkAvailability(figures: readonly AvailabilityFigure[], boundMs: number | null): CheckOutcome {
  const problems: string[] = [];
  for (const f of figures) {
    const at = `step ${f.step} ${f.action} node ${f.node}, ${f.group}`;
    if (f.leaderAfterMs === null) problems.push(`${at}: never had a leader again`);
    else if (boundMs !== null && f.leaderAfterMs > boundMs)
      problems.push(`${at}: leader after ${Math.round(f.leaderAfterMs)} ms`);
    if (f.servedAfterMs === null && f.callsAfter > 0) problems.push(`${at}: none of ${f.callsAfter} calls succeeded`);
    else if (boundMs !== null && f.servedAfterMs !== null && f.servedAfterMs > boundMs) {
      problems.push(`${at}: served after ${Math.round(f.servedAfterMs)} ms`);
    }
  }
  const bound = boundMs === null ? '' : ` (bound ${boundMs} ms)`;
  if (problems.length > 0) {
    return {
      name: 'availability',
      passed: false,
      detail: `${problems.length} problem(s)${bound}: ${listed(problems)}`,
    };
  }
  const worst = (pick: (f: AvailabilityFigure) => number | null): string => {
    const xs = figures.map(pick).filter((x): x is number => x !== null);
    return xs.length === 0 ? '-' : `${Math.round(Math.max(...xs))} ms`;
  };
  const faults = new Set(figures.map((f) => f.step)).size;
  return {
    name: 'availability',
    passed: true,
    detail: `${faults} fault(s), ${figures.length} group figures; worst leader ${worst((f) => f.leaderAfterMs)}, worst served ${worst((f) => f.servedAfterMs)}${bound}`,
  };
}
