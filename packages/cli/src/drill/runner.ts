/**
 * `runDrill`: one drill run, start to end, against any ClusterController (the real supervisor through
 * cluster-factory.ts, or an in-memory fake in tests) and any DrillTransport.
 *
 *   1. bring a cluster up (`factory`) with the drill's node count and environment, in <report>/cluster
 *   2. set the workload up (setupWorkload), start sampling status() every sampleEveryMs for the timeline
 *   3. start the clients, run the steps one by one (each bounded; a step that fails is recorded and the drill goes
 *      on to the heal), stop the clients
 *   4. heal everything: clear partitions and flaky links, slow disks, resume paused nodes, start stopped ones; wait
 *      (bounded) until every node is up and every group has a leader
 *   5. poll digests() until every group has one applied index on every node (bounded), read every key from every
 *      node (recorded in the history as reads of client `final`)
 *   With a `[live]` section (live.ts): after the setup, subscriptions on on_node; their writers run with the clients;
 *   after the final reads, markers, the cleanup wait and the stream checks, added to the others.
 *   With an `[exactly_once]` section (exactly-once.ts): after the setup, counters and one @kalam/client client per
 *   drill user; they increment with the clients; after the final reads, every counter read and checked.
 *   6. run the checks (checks.ts), write the report folder (report.ts), bring the cluster down — wiping its folder
 *      only when every check passed, so that a failed run keeps the node logs next to its report.
 *   A restore step (backup-steps.ts) replaces the cluster under the controller mid-run and the clients' nodes with
 *   it; the checks of such a run split the history there.
 * The whole run is bounded: steps past max_duration_ms are skipped, and the `steps` check then fails.
 */
import { join } from 'node:path';
import { HistoryRecorder } from '@kalam/check';
import { Prng } from '@kalam/raft';
import type { UpOptions } from '../cluster/control.js';
import { findFreeBasePort } from '../cluster/folder.js';
import type { ClusterController, ClusterStatus, NodeId } from '../cluster/types.js';
import type { BackupStepContext } from './backup-steps.js';
import {
  RestorableCluster,
  backupStep,
  checkRestorable,
  destroyStep,
  newCut,
  restoreChecks,
  restoreStep,
} from './backup-steps.js';
import type { AvailabilityFigure, CheckOutcome, FaultRecord, FinalRead, LeaderSample, NodeDigests } from './checks.js';
import {
  appliedIndexesMatch,
  checkAvailability,
  checkConverged,
  checkLinearizable,
  checkNoLostAcks,
  computeAvailability,
} from './checks.js';
import { DRILL_LIMITS } from './limits.js';
import { ExactlyOnceDrill } from './exactly-once.js';
import { LiveDrill } from './live.js';
import type { DrillEvent, DrillResult } from './report.js';
import { countCalls, writeReport } from './report.js';
import type { CheckExpectation, DrillSpec, DrillStep, WaitCondition } from './spec.js';
import { scaledWaitMs } from './spec.js';
import { describeTarget, groupsLedBy, resolveTarget } from './targets.js';
import { classifyReply, rowsOf } from './transport.js';
import type { DrillTransport } from './transport.js';
import type { Account, DrillNode, WorkloadSetup } from './workload.js';
import {
  DRILL_NAMESPACE,
  SHARED_TABLE,
  SQL_PATH,
  USER_TABLE,
  Workload,
  login,
  recordedCall,
  setupSql,
  setupWorkload,
  sleep,
} from './workload.js';

/** What `upCluster` takes (packages/cli/src/cluster/control.ts). */
/** What a drill asks of `upCluster` (cluster/control.ts); tests hand the runner an in-memory factory. */
export type UpClusterOptions = UpOptions;

export type ClusterFactory = (opts: UpClusterOptions) => Promise<ClusterController>;

export interface RunDrillOptions {
  readonly spec: DrillSpec;
  readonly seed: number;
  readonly short: boolean;
  readonly reportDir: string;
  readonly factory: ClusterFactory;
  /** The cluster's ports start here; default: a free block found at run time (cluster/folder.ts). */
  readonly basePort?: number;
  /** The cluster's nodes in network namespaces (`kalam drill run --netns`): partitions cut real paths. */
  readonly netns?: boolean;
  /** The drill cluster runs with TLS (`kalam drill run --tls`). */
  readonly tls?: boolean;
  readonly transport: DrillTransport;
  /** One progress line (stderr in the CLI). */
  readonly progress: (line: string) => void;
}

/** Final reads of one key on one node: tries while the node refuses (it may still be catching up). */
const FINAL_READ_TRIES = 10;
const FINAL_READ_RETRY_MS = 200;

export async function runDrill(opts: RunDrillOptions): Promise<DrillResult> {
  const { spec, progress } = opts;
  checkRestorable(spec, opts);
  const t0 = performance.now();
  const clock = (): number => performance.now() - t0;
  const startedAt = new Date().toISOString();
  const rnd = new Prng(opts.seed);
  progress(`drill ${spec.name}: bringing up ${spec.nodes} nodes (seed ${opts.seed}${opts.short ? ', short' : ''})`);
  let lastProgress = '';
  const created = await opts.factory({
    nodes: spec.nodes,
    name: `drill-${spec.name}`,
    dir: join(opts.reportDir, 'cluster'),
    basePort: opts.basePort ?? (await findFreeBasePort(spec.nodes)),
    env: { ...spec.env },
    ...(opts.netns === true && { netns: true }),
    ...(opts.tls === true && { tls: true }),
    onProgress: (line) => {
      if (line !== lastProgress) progress(`  ${line}`);
      lastProgress = line;
    },
  });
  // A restore step replaces the cluster under this controller (drill/backup-steps.ts).
  const ctl = new RestorableCluster(created);
  let passed = false;
  try {
    const result = await runOnCluster(opts, ctl, clock, rnd, startedAt);
    passed = result.passed;
    writeReport(opts.reportDir, result);
    return result;
  } finally {
    progress(`drill ${spec.name}: bringing the cluster down${passed ? ' (wiping it)' : ' (keeping its logs)'}`);
    await ctl.down({ wipe: passed });
  }
}

async function runOnCluster(
  opts: RunDrillOptions,
  ctl: RestorableCluster,
  clock: () => number,
  rnd: Prng,
  startedAt: string,
): Promise<DrillResult> {
  const { spec, progress } = opts;
  const nodes: DrillNode[] = ctl.manifest.nodes.map((n) => ({ id: n.id, apiUrl: n.apiUrl }));
  const recorder = new HistoryRecorder(clock);

  const ready = await waitForCondition(ctl, 'leaders', spec.checks.healTimeoutMs);
  if (ready !== null) progress(`drill ${spec.name}: cluster not ready: ${ready}`);
  progress(`drill ${spec.name}: setting up ${spec.workload.users} users and their rows`);
  const setup = await setupWorkload({
    transport: opts.transport,
    nodes,
    root: { user: ctl.credentials.user, password: ctl.credentials.password },
    spec: spec.workload,
    seed: opts.seed,
  });
  let live: LiveDrill | null = null;
  if (spec.live !== null) {
    progress(`drill ${spec.name}: setting up live queries`);
    live = await LiveDrill.setup({
      spec: spec.live,
      transport: opts.transport,
      nodes,
      root: { user: ctl.credentials.user, password: ctl.credentials.password },
      callTimeoutMs: spec.workload.callTimeoutMs,
      seed: opts.seed,
      progress,
    });
  }
  let exactlyOnce: ExactlyOnceDrill | null = null;
  if (spec.exactlyOnce !== null) {
    progress(`drill ${spec.name}: setting up exactly-once counters and clients`);
    try {
      exactlyOnce = await ExactlyOnceDrill.setup({
        spec: spec.exactlyOnce,
        transport: opts.transport,
        nodes,
        root: { user: ctl.credentials.user, password: ctl.credentials.password },
        seed: opts.seed,
        progress,
      });
    } catch (err) {
      live?.close();
      throw err;
    }
  }
  const caller = { transport: opts.transport, nodes, timeoutMs: spec.workload.callTimeoutMs };
  // An account, not a token: a restore step logs it in again on the restored cluster.
  const root: Account = {
    username: ctl.credentials.user,
    password: ctl.credentials.password,
    auth: (await login(caller, ctl.credentials.user, ctl.credentials.password)).auth,
  };
  const rootSql = async (sql: string, phase: string): Promise<Record<string, unknown>> =>
    (await setupSql(caller, root.auth, sql, [], sql, 0, phase)) as Record<string, unknown>;
  const nodeSql = async (id: NodeId, sql: string): Promise<Record<string, unknown>> => {
    const node = nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    const reply = classifyReply(
      await caller.transport.post(node.apiUrl, SQL_PATH, root.auth, { sql }, caller.timeoutMs),
    );
    if (reply.outcome !== 'ok') throw new Error(`node ${id}: ${reply.reason}`);
    return reply.body;
  };
  try {
    const sqlOf = { rootSql, nodeSql };
    return await runWorkloadAndSteps(opts, ctl, clock, rnd, startedAt, {
      nodes,
      recorder,
      setup,
      live,
      exactlyOnce,
      root,
      ...sqlOf,
    });
  } finally {
    live?.close();
    await exactlyOnce?.close();
  }
}

async function runWorkloadAndSteps(
  opts: RunDrillOptions,
  ctl: RestorableCluster,
  clock: () => number,
  rnd: Prng,
  startedAt: string,
  ctx: {
    nodes: DrillNode[];
    recorder: HistoryRecorder;
    setup: WorkloadSetup;
    live: LiveDrill | null;
    exactlyOnce: ExactlyOnceDrill | null;
    root: Account;
    rootSql: (sql: string, phase: string) => Promise<Record<string, unknown>>;
    nodeSql: (node: NodeId, sql: string) => Promise<Record<string, unknown>>;
  },
): Promise<DrillResult> {
  const { spec, progress } = opts;
  const { nodes, recorder, setup, live, exactlyOnce, rootSql, nodeSql } = ctx;
  const events: DrillEvent[] = [];
  const checks: CheckOutcome[] = [];
  const faults: FaultRecord[] = [];
  const deadlineMs = spec.maxDurationMs;
  const sampler = new Sampler(ctl, clock);
  sampler.start();
  const workload = new Workload({
    transport: opts.transport,
    nodes,
    setup,
    spec: spec.workload,
    recorder,
    seed: opts.seed,
  });
  const workloadStartMs = clock();
  workload.start();
  live?.start();
  exactlyOnce?.start();
  let previous: NodeId | null = null;
  const slowDisks = new Set<NodeId>();
  let skipped = 0;
  const cut = newCut();
  const backupContext: BackupStepContext = {
    ctl,
    cut,
    clock,
    reportDir: opts.reportDir,
    factory: opts.factory,
    env: spec.env,
    transport: opts.transport,
    callTimeoutMs: spec.workload.callTimeoutMs,
    setup,
    root: ctx.root,
    nodes,
    readAll: (rec, on) => readFinalValues(rec, [], opts.transport, on, setup, spec.workload.callTimeoutMs),
    progress,
  };
  for (const [i, step] of spec.steps.entries()) {
    const n = i + 1;
    if (clock() > deadlineMs) {
      skipped = spec.steps.length - i;
      progress(`drill ${spec.name}: past max_duration_ms ${deadlineMs}; ${skipped} step(s) skipped`);
      break;
    }
    const atMs = clock();
    let node: NodeId | null = null;
    let detail: string = step.action;
    let error: string | undefined;
    try {
      const r = await runStep(step, {
        ctl,
        rnd,
        previous,
        short: opts.short,
        shortScale: spec.shortScale,
        deadlineMs,
        clock,
        recorder,
        checks,
        faults,
        slowDisks,
        n,
        rootSql,
        nodeSql,
        nodes,
        progress,
        backup: backupContext,
      });
      node = r.node;
      detail = r.detail;
      if (node !== null) previous = node;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const endMs = clock();
    events.push({ step: n, action: step.action, node, atMs, endMs, detail, ...(error === undefined ? {} : { error }) });
    const took = `${Math.round(endMs - atMs)} ms`;
    progress(
      `  step ${n}/${spec.steps.length} ${error === undefined ? detail : `${step.action} FAILED: ${error}`} (${took})`,
    );
  }
  progress(`drill ${spec.name}: stopping the workload`);
  await Promise.all([workload.stop(), live?.stopWriters(), exactlyOnce?.stopWriters()]);
  const workloadEndMs = clock();

  progress(`drill ${spec.name}: healing every fault`);
  const healStart = clock();
  const healProblem = await healAll(ctl, slowDisks, spec.checks.healTimeoutMs);
  events.push({
    step: spec.steps.length + 1,
    action: 'heal',
    node: null,
    atMs: healStart,
    endMs: clock(),
    detail: 'final heal: every fault cleared, every node up, every group with a leader',
    ...(healProblem === null ? {} : { error: healProblem }),
  });

  progress(`drill ${spec.name}: waiting for equal applied indexes, then reading every key from every node`);
  const digests = await waitConverged(ctl, nodes, spec.checks.convergeTimeoutMs);
  const finalReads = await readFinalValues(
    recorder,
    workload.meta,
    opts.transport,
    nodes,
    setup,
    spec.workload.callTimeoutMs,
  );
  if (live !== null)
    progress(`drill ${spec.name}: live queries: markers, cleanup of node ${spec.live?.onNode}, streams`);
  const liveChecks = live === null ? [] : await live.finish();
  if (exactlyOnce !== null) progress(`drill ${spec.name}: exactly-once: reading every counter`);
  const exactlyOnceChecks = exactlyOnce === null ? [] : await exactlyOnce.finish();
  const samples = await sampler.stop();

  progress(`drill ${spec.name}: checking ${recorder.size} calls`);
  const history = recorder.operations();
  const stepErrors = events.filter((e) => e.error !== undefined);
  const stepCheck: CheckOutcome = {
    name: 'steps',
    passed: stepErrors.length === 0 && skipped === 0,
    detail:
      stepErrors.length === 0 && skipped === 0
        ? `${spec.steps.length} steps ran, then the final heal`
        : [
            ...stepErrors.map((e) => `step ${e.step} ${e.action}: ${e.error ?? ''}`),
            ...(skipped > 0 ? [`${skipped} step(s) skipped past max_duration_ms`] : []),
          ].join('; '),
  };
  const availability: AvailabilityFigure[] = computeAvailability(faults, history, workload.meta, samples, setup.groups);
  // Across a restore, the history is checked in two parts split at the cut (drill/backup-steps.ts).
  const budgetMs = spec.checks.linearizableBudgetMs;
  const allChecks: CheckOutcome[] = [
    ...(cut.destroyAtMs === null
      ? [
          checkLinearizable(history, setup.initialValues, budgetMs),
          checkNoLostAcks(history, finalReads, setup.initialValues),
        ]
      : restoreChecks(cut, history, finalReads, setup.initialValues, budgetMs)),
    checkConverged(digests),
    checkAvailability(availability, spec.checks.availabilityBoundMs),
    stepCheck,
    ...checks,
    ...liveChecks,
    ...exactlyOnceChecks,
  ];
  return {
    name: spec.name,
    description: spec.description,
    file: spec.file,
    seed: opts.seed,
    short: opts.short,
    nodes: spec.nodes,
    startedAt,
    durationMs: clock(),
    passed: allChecks.every((c) => c.passed),
    checks: allChecks,
    availability,
    counts: countCalls(history),
    events,
    samples,
    workloadMs: { startMs: workloadStartMs, endMs: workloadEndMs },
    history,
    historyJsonl: recorder.toJsonLines(),
    meta: workload.meta,
  };
}

interface StepContext {
  readonly ctl: ClusterController;
  readonly rnd: Prng;
  readonly previous: NodeId | null;
  readonly short: boolean;
  readonly shortScale: number;
  readonly deadlineMs: number;
  readonly clock: () => number;
  readonly recorder: HistoryRecorder;
  readonly checks: CheckOutcome[];
  readonly faults: FaultRecord[];
  readonly slowDisks: Set<NodeId>;
  readonly n: number;
  /** One statement as root, retried on another node while refused (bounded). */
  readonly rootSql: (sql: string, phase: string) => Promise<Record<string, unknown>>;
  /** One statement as root on one node, once; rejects unless it succeeded. */
  readonly nodeSql: (node: NodeId, sql: string) => Promise<Record<string, unknown>>;
  /**
   * The nodes the workload's clients, the final reads and the convergence check use: add_node appends to it and
   * remove_node takes the node out (in place — the clients read it on every call).
   */
  readonly nodes: DrillNode[];
  readonly progress: (line: string) => void;
  readonly backup: BackupStepContext;
}

async function runStep(step: DrillStep, c: StepContext): Promise<{ node: NodeId | null; detail: string }> {
  const { ctl } = c;
  const target = async (t: Parameters<typeof resolveTarget>[0]): Promise<{ node: NodeId; status: ClusterStatus }> => {
    const status = await ctl.status();
    return { node: resolveTarget(t, status, c.rnd, c.previous), status };
  };
  const fault = (action: string, node: NodeId, status: ClusterStatus, removesNode: boolean): string => {
    const ledGroups = groupsLedBy(status, node);
    const terms = Object.fromEntries(status.groups.map((g) => [g.name, g.term]));
    c.faults.push({ step: c.n, action, node, atMs: c.clock(), removesNode, ledGroups, terms });
    return `${ledGroups.length} group(s) led`;
  };
  switch (step.action) {
    case 'wait': {
      const ms = Math.min(scaledWaitMs(step.ms, c.short, c.shortScale), Math.max(0, c.deadlineMs - c.clock()));
      await sleep(ms);
      return { node: null, detail: `wait ${ms} ms` };
    }
    case 'kill': {
      const { node, status } = await target(step.target);
      const led = step.signal === 'CONT' ? '' : `, ${fault('kill', node, status, true)}`;
      await ctl.kill(node, step.signal);
      return { node, detail: `kill node ${node} signal ${step.signal} (${describeTarget(step.target)}${led})` };
    }
    case 'start': {
      const { node } = await target(step.target);
      await ctl.start(node);
      return { node, detail: `start node ${node}` };
    }
    case 'restart': {
      const { node, status } = await target(step.target);
      const led = fault('restart', node, status, true);
      await ctl.restart(node);
      return { node, detail: `restart node ${node} (${describeTarget(step.target)}, ${led})` };
    }
    case 'partition': {
      const { node, status } = await target(step.target);
      const led = fault('partition', node, status, step.from === undefined);
      await ctl.partition(node, {
        direction: step.direction,
        ...(step.from === undefined ? {} : { from: step.from }),
      });
      const from = step.from === undefined ? 'every other node' : `node ${step.from.join(', ')}`;
      return {
        node,
        detail: `partition node ${node} ${step.direction} from ${from} (${describeTarget(step.target)}, ${led})`,
      };
    }
    case 'network': {
      const { node, status } = await target(step.target);
      const led = fault('network', node, status, false);
      await ctl.network(node, step.rule, step.peers);
      const r = step.rule;
      return {
        node,
        detail: `network node ${node}: delay ${r.delayMs ?? 0}±${r.jitterMs ?? 0} ms, loss ${r.dropRate ?? 0}, duplication ${r.duplicateRate ?? 0} (${led})`,
      };
    }
    case 'heal': {
      if (step.target === undefined) {
        await ctl.heal();
        return { node: null, detail: 'heal every node' };
      }
      const { node } = await target(step.target);
      await ctl.heal(node);
      return { node, detail: `heal node ${node}` };
    }
    case 'disk': {
      const { node, status } = await target(step.target);
      const led = step.fsyncDelayMs > 0 ? `, ${fault('disk', node, status, false)}` : '';
      await ctl.disk(node, step.fsyncDelayMs);
      if (step.fsyncDelayMs > 0) c.slowDisks.add(node);
      else c.slowDisks.delete(node);
      return { node, detail: `disk node ${node}: fsync delay ${step.fsyncDelayMs} ms${led}` };
    }
    case 'wipe': {
      const { node } = await target(step.target);
      await ctl.wipe(node);
      return { node, detail: `wipe node ${node}` };
    }
    case 'wait_for': {
      const bound = Math.min(step.timeoutMs, Math.max(1, c.deadlineMs - c.clock()));
      const problem = await waitForCondition(ctl, step.condition, bound);
      if (problem !== null) throw new Error(`${step.condition} not reached within ${bound} ms: ${problem}`);
      return { node: null, detail: `wait_for ${step.condition}` };
    }
    case 'check': {
      const outcome = await checkNow(step.expect, step.withinMs, c);
      c.checks.push(outcome);
      return { node: null, detail: `check ${step.expect}: ${outcome.passed ? 'pass' : 'FAIL'} (${outcome.detail})` };
    }
    case 'flush':
      return { node: null, detail: await flushStep(step, c) };
    case 'sql': {
      for (let i = 1; i <= step.repeat; i++) {
        for (const text of step.statements) await c.rootSql(text.replaceAll('{i}', String(i)), `step ${c.n} sql`);
      }
      return { node: null, detail: `sql: ${step.statements.length * step.repeat} statement(s)` };
    }
    case 'count_rows': {
      const { node } = await target(step.target);
      const outcome = await countRows(node, step.timeoutMs, c);
      c.checks.push(outcome);
      return { node, detail: `count_rows on node ${node}: ${outcome.passed ? 'pass' : 'FAIL'} (${outcome.detail})` };
    }
    case 'add_node': {
      const added = await addNodeStep(step.timeoutMs, c);
      return { node: added.id, detail: `add node ${added.id}: a voter of every group after ${added.tookMs} ms` };
    }
    case 'remove_node': {
      const { node, status } = await target(step.target);
      const led = fault('remove_node', node, status, true);
      const tookMs = await removeNodeStep(node, step.timeoutMs, c);
      return {
        node,
        detail: `remove node ${node} (${describeTarget(step.target)}, ${led}): out of every group after ${tookMs} ms`,
      };
    }
    case 'replace_node': {
      const { node: old } = await target(step.target);
      const added = await addNodeStep(step.timeoutMs, c);
      // The fault is the removal: the groups the old node leads (if it is alive) at that moment move.
      const status = await ctl.status();
      const led = fault('replace_node', old, status, true);
      const tookMs = await removeNodeStep(old, step.timeoutMs, c);
      return {
        node: added.id,
        detail: `replace node ${old} (${describeTarget(step.target)}, ${led}) by node ${added.id}: added after ${added.tookMs} ms, node ${old} out of every group after ${tookMs} ms`,
      };
    }
    case 'backup':
      return { node: null, detail: await backupStep(c.backup) };
    case 'destroy':
      return { node: null, detail: await destroyStep(c.backup) };
    case 'restore':
      return { node: null, detail: await restoreStep(c.backup) };
  }
}

/** The bound of a membership step: its timeout, cut to what is left of the run. */
function membershipBound(timeoutMs: number, c: StepContext): number {
  return Math.min(timeoutMs, Math.max(1_000, c.deadlineMs - c.clock()));
}

/** `kalam node add` (cluster/control.ts); the clients use the new node from then on. */
async function addNodeStep(timeoutMs: number, c: StepContext): Promise<{ id: NodeId; tookMs: number }> {
  const added = await c.ctl.addNode({
    timeoutMs: membershipBound(timeoutMs, c),
    onProgress: (line) => c.progress(`    ${line}`),
  });
  c.nodes.push({ id: added.id, apiUrl: added.apiUrl });
  return { id: added.id, tookMs: added.tookMs };
}

/**
 * `kalam node remove`: the clients stop choosing the node first (an operator drains a node before removing it;
 * calls in flight to it finish or time out), then the cluster removes it. Resolves with the time the removal took.
 */
async function removeNodeStep(node: NodeId, timeoutMs: number, c: StepContext): Promise<number> {
  const at = c.nodes.findIndex((n) => n.id === node);
  const drained = at >= 0 ? c.nodes.splice(at, 1) : [];
  try {
    const removed = await c.ctl.removeNode(node, {
      timeoutMs: membershipBound(timeoutMs, c),
      onProgress: (line) => c.progress(`    ${line}`),
    });
    return removed.tookMs;
  } catch (err) {
    // Refused: the node is still a member, and the final reads and convergence check must cover it.
    if (drained.length > 0 && !(await isRemovedNow(c, node))) c.nodes.push(...drained);
    throw err;
  }
}

/** Whether the supervisor no longer lists `node` (a removal that finished after all, e.g. on a timeout's edge). */
async function isRemovedNow(c: StepContext, node: NodeId): Promise<boolean> {
  try {
    return !(await c.ctl.status()).nodes.some((n) => n.id === node);
  } catch {
    return false;
  }
}

/**
 * Every table outside the workload's namespace, counted as root (SELECT COUNT(*), a linearizable read) on `node` and
 * on every other node that is up; passes when all agree. A node that refuses (still catching up) is asked again
 * until `timeoutMs`; a count that differs is not retried — the reads are linearizable, so it is a lost row.
 */
async function countRows(node: NodeId, timeoutMs: number, c: StepContext): Promise<CheckOutcome> {
  const name = `step ${c.n}: row counts`;
  const deadline = c.clock() + Math.min(timeoutMs, Math.max(1, c.deadlineMs - c.clock()));
  const tables = rowsOf(await c.rootSql('SHOW TABLES', `step ${c.n} count_rows`))
    .filter((r) => r[0] !== DRILL_NAMESPACE)
    .map((r) => `${String(r[0])}.${String(r[1])}`);
  const up = (await c.ctl.status()).nodes.filter((n) => n.state === 'up').map((n) => n.id);
  const counts = new Map<NodeId, number[]>();
  for (const id of [node, ...up.filter((x) => x !== node)]) {
    const row: number[] = [];
    for (const t of tables) row.push(await countOn(id, t, deadline, c));
    counts.set(id, row);
  }
  const mine = counts.get(node)!;
  const wrong: string[] = [];
  for (const [id, row] of counts) {
    row.forEach((n, i) => {
      if (n !== mine[i]) wrong.push(`${tables[i]}: node ${node} ${mine[i]}, node ${id} ${n}`);
    });
  }
  const total = mine.reduce((a, b) => a + b, 0);
  const detail =
    wrong.length === 0
      ? `${tables.length} table(s), ${total} row(s), equal on node(s) ${[...counts.keys()].join(', ')}`
      : `${wrong.length} difference(s): ${wrong.slice(0, 3).join('; ')}${wrong.length > 3 ? ' …' : ''}`;
  return { name, passed: wrong.length === 0 && counts.size > 1, detail };
}

/** SELECT COUNT(*) FROM `table` on one node as root; asked again while that node refuses, until `deadlineMs`. */
async function countOn(node: NodeId, table: string, deadlineMs: number, c: StepContext): Promise<number> {
  let last = '';
  for (;;) {
    const body = await c.nodeSql(node, `SELECT COUNT(*) FROM ${table}`).catch((err: unknown) => {
      last = err instanceof Error ? err.message : String(err);
      return undefined;
    });
    const n = body === undefined ? undefined : rowsOf(body)[0]?.[0];
    if (typeof n === 'number') return n;
    if (c.clock() > deadlineMs) throw new Error(`node ${node} did not count ${table} in time (last: ${last})`);
    await sleep(DRILL_LIMITS.setupRetryMs);
  }
}

/** FLUSH TABLE of both workload tables; with `wait`, until both jobs completed (bounded; a failed job throws). */
async function flushStep(step: Extract<DrillStep, { action: 'flush' }>, c: StepContext): Promise<string> {
  const phase = `step ${c.n} flush`;
  const jobs: string[] = [];
  for (const table of [USER_TABLE, SHARED_TABLE]) {
    const id = rowsOf(await c.rootSql(`FLUSH TABLE ${table}`, phase))[0]?.[0];
    if (typeof id !== 'string') throw new Error(`FLUSH TABLE ${table} answered no job id`);
    jobs.push(id);
  }
  if (!step.wait) return `flush: jobs ${jobs.join(', ')} started`;
  const bound = c.clock() + Math.min(step.timeoutMs, Math.max(1, c.deadlineMs - c.clock()));
  for (;;) {
    const rows = rowsOf(await c.rootSql('SELECT job_id, status, error_message, result FROM system.jobs', phase));
    const ours = rows.filter((r) => jobs.includes(String(r[0])));
    const bad = ours.find((r) => r[1] === 'failed' || r[1] === 'cancelled');
    if (bad !== undefined) throw new Error(`flush job ${String(bad[0])} ${String(bad[1])}: ${String(bad[2])}`);
    if (ours.length === jobs.length && ours.every((r) => r[1] === 'completed')) {
      return `flush: ${ours.map((r) => `${String(r[0])} ${String(r[3])}`).join('; ')}`;
    }
    if (c.clock() > bound) {
      const states = ours.map((r) => `${String(r[0])} ${String(r[1])}`).join(', ');
      throw new Error(`flush jobs not completed within ${step.timeoutMs} ms (${states})`);
    }
    await sleep(DRILL_LIMITS.setupRetryMs);
  }
}

/** null when `condition` holds, else what is still missing. */
export function conditionProblem(condition: WaitCondition | CheckExpectation, status: ClusterStatus): string | null {
  const down = status.nodes.filter((n) => n.state !== 'up').map((n) => `node ${n.id} ${n.state}`);
  const upIds = new Set(status.nodes.filter((n) => n.state === 'up').map((n) => String(n.id)));
  const leaderless = status.groups.filter((g) => g.leader === null || !upIds.has(String(g.leader))).map((g) => g.name);
  const leaders =
    leaderless.length === 0
      ? null
      : `${leaderless.length} group(s) without a leader (${leaderless.slice(0, 3).join(', ')})`;
  switch (condition) {
    case 'leaders':
      return leaders;
    case 'nodes-up':
      return down.length === 0 ? null : down.join(', ');
    case 'caught-up': {
      if (down.length > 0) return down.join(', ');
      if (leaders !== null) return leaders;
      const lagging = status.groups.filter((g) => Object.values(g.lag).some((l) => l !== 0)).map((g) => g.name);
      return lagging.length === 0 ? null : `${lagging.length} group(s) with a lagging node`;
    }
    case 'progress':
      return null;
  }
}

/** Polls status() until `condition` holds; null on success, else the last problem seen. */
async function waitForCondition(
  ctl: ClusterController,
  condition: WaitCondition,
  timeoutMs: number,
): Promise<string | null> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no status yet';
  for (;;) {
    try {
      const problem = conditionProblem(condition, await ctl.status());
      if (problem === null) return null;
      last = problem;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (performance.now() + DRILL_LIMITS.convergePollMs > deadline) return last;
    await sleep(DRILL_LIMITS.convergePollMs);
  }
}

async function checkNow(expect: CheckExpectation, withinMs: number, c: StepContext): Promise<CheckOutcome> {
  const name = `step ${c.n}: ${expect}`;
  if (expect === 'progress') {
    const since = c.clock() - withinMs;
    const acked = c.recorder
      .operations()
      .filter((op) => op.outcome === 'ok' && op.kind !== 'read' && (op.completedAtMs ?? -1) >= since).length;
    return { name, passed: acked > 0, detail: `${acked} acknowledged write(s) in the last ${withinMs} ms` };
  }
  const problem = conditionProblem(expect, await c.ctl.status());
  return { name, passed: problem === null, detail: problem ?? 'holds' };
}

/** Clears every fault and brings every node back; null on success, else what did not recover. */
async function healAll(
  ctl: ClusterController,
  slowDisks: ReadonlySet<NodeId>,
  timeoutMs: number,
): Promise<string | null> {
  const problems: string[] = [];
  const attempt = async (what: string, f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (err) {
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await attempt('heal', () => ctl.heal());
  for (const node of slowDisks) await attempt(`disk ${node}`, () => ctl.disk(node, 0));
  let status: ClusterStatus | null = null;
  await attempt('status', async () => {
    status = await ctl.status();
  });
  for (const n of (status as ClusterStatus | null)?.nodes ?? []) {
    if (n.state === 'paused') await attempt(`resume node ${n.id}`, () => ctl.kill(n.id, 'CONT'));
    if (n.state === 'down') await attempt(`start node ${n.id}`, () => ctl.start(n.id));
  }
  const upProblem = await waitForCondition(ctl, 'nodes-up', timeoutMs);
  if (upProblem !== null) problems.push(upProblem);
  const leaderProblem = await waitForCondition(ctl, 'leaders', timeoutMs);
  if (leaderProblem !== null) problems.push(leaderProblem);
  return problems.length === 0 ? null : problems.join('; ');
}

/** Polls digests() of every node until each group has one applied index everywhere, or the bound passes. */
async function waitConverged(
  ctl: ClusterController,
  nodes: readonly DrillNode[],
  timeoutMs: number,
): Promise<NodeDigests> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const digests = new Map<NodeId, Awaited<ReturnType<ClusterController['digests']>> | { error: string }>();
    for (const n of nodes) {
      try {
        digests.set(n.id, await ctl.digests(n.id));
      } catch (err) {
        digests.set(n.id, { error: err instanceof Error ? err.message : String(err) });
      }
    }
    if (appliedIndexesMatch(digests) || performance.now() + DRILL_LIMITS.convergePollMs > deadline) return digests;
    await sleep(DRILL_LIMITS.convergePollMs);
  }
}

/** Reads every key from every node (the nodes in parallel), recording each read; a node that keeps refusing gives an error entry. */
async function readFinalValues(
  recorder: HistoryRecorder,
  meta: Workload['meta'],
  transport: DrillTransport,
  nodes: readonly DrillNode[],
  setup: WorkloadSetup,
  timeoutMs: number,
): Promise<Map<string, Map<NodeId, FinalRead>>> {
  const readOne = async (node: DrillNode, key: WorkloadSetup['keys'][number]): Promise<FinalRead> => {
    let read: FinalRead = { error: 'not read' };
    for (let attempt = 0; attempt < FINAL_READ_TRIES; attempt++) {
      const r = await recordedCall(
        recorder,
        meta,
        transport,
        `final/n${node.id}`,
        node,
        key,
        { kind: 'read' },
        timeoutMs,
      );
      if (r.outcome === 'ok') return { value: r.value ?? null };
      read = { error: r.reason };
      await sleep(FINAL_READ_RETRY_MS);
    }
    return read;
  };
  const reads = new Map<string, Map<NodeId, FinalRead>>();
  for (const key of setup.keys) reads.set(key.key, new Map());
  await Promise.all(
    nodes.map(async (node) => {
      for (const key of setup.keys) reads.get(key.key)?.set(node.id, await readOne(node, key));
    }),
  );
  return reads;
}

/** Samples status() every sampleEveryMs into leader samples for the timeline and the availability figures. */
class Sampler {
  private readonly samples: LeaderSample[] = [];
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly ctl: ClusterController,
    private readonly clock: () => number,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Ends the loop and takes one last sample, so that the state after the final heal is always in. */
  async stop(): Promise<LeaderSample[]> {
    this.stopping = true;
    await this.loop;
    await this.sample();
    return this.samples;
  }

  private async run(): Promise<void> {
    while (!this.stopping && this.samples.length < DRILL_LIMITS.samplesMax) {
      await this.sample();
      await sleep(DRILL_LIMITS.sampleEveryMs);
    }
  }

  private async sample(): Promise<void> {
    try {
      const status = await this.ctl.status();
      const leaders: Record<string, NodeId | null> = {};
      const terms: Record<string, number> = {};
      for (const g of status.groups) {
        leaders[g.name] = g.leader;
        terms[g.name] = g.term;
      }
      this.samples.push({ atMs: this.clock(), leaders, terms });
    } catch {
      // A status the supervisor could not give is a gap in the timeline, nothing more.
    }
  }
}
