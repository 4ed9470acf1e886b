/**
 * Drill files: TOML describing a cluster, a workload and a list of fault steps (cluster-configs/drills/*.toml).
 * `parseDrill` validates the whole file before anything runs; the first problem is a CliError DRILL_INVALID
 * (exit 2) with one line naming the file, the step number when there is one, and the key.
 *
 *   name = "leader-failover"            description = "…"         nodes = 3           seed = 1
 *   max_duration_ms = 60000              short_scale = 0.3          (--short multiplies every `wait` by it)
 *   [env]       KALAM_… = "…"            passed to every node
 *   [workload]  clients, users, keys_per_user, shared_keys, shared_share, read, write, cas (weights),
 *               call_timeout_ms, think_ms
 *   [checks]    linearizable_budget_ms, converge_timeout_ms, heal_timeout_ms, availability_bound_ms (optional)
 *   [[steps]]   action = wait (ms) | kill (target, signal) | start | restart (target) |
 *               partition (target, direction, from) | network (target, delay_ms, jitter_ms, loss, duplication,
 *               peers) | heal (target?) | disk (target, fsync_delay_ms) | wipe (target) |
 *               wait_for (condition = leaders | nodes-up | caught-up, timeout_ms) |
 *               check (expect = leaders | nodes-up | progress, within_ms) |
 *               flush (wait = true | false, timeout_ms): FLUSH TABLE of both workload tables as root; with wait,
 *               until both jobs completed (a failed job fails the step) |
 *               sql (statements = ["…"], repeat): each statement as root, `repeat` times with `{i}` = 1 … repeat,
 *               in order; any refusal fails the step |
 *               count_rows (target, timeout_ms): SELECT COUNT(*) as root of every table outside the workload's
 *               namespace, on the target and on every other node that is up; a check that fails when they differ |
 *               add_node (timeout_ms): `kalam node add` — a new node joins and becomes a voter of every group; the
 *               workload's clients use it from then on, and "previous" names it |
 *               remove_node (target, timeout_ms): `kalam node remove` — the clients stop using the node, the
 *               cluster removes it from every group, its process is stopped |
 *               replace_node (target, timeout_ms): `kalam node replace` — add_node, then remove_node of the target
 *               (alive, killed or wiped); "previous" then names the new node |
 *               backup: `kalam backup` of the running cluster into <report>/backup.kalam-backup while the clients
 *               write; its start is the cut |
 *               destroy: every node killed (SIGKILL) and its data folder wiped, the supervisor stopped |
 *               restore: `kalam restore` of that backup into <report>/cluster-restored with as many nodes, then
 *               `kalam cluster up` on it; the clients move to the restored nodes (drill/backup-steps.ts).
 *               At most one of each, in that order; a destroy needs a restore after it.
 *   [live]      optional live-query failover (drill/live.ts): subscribers (users, one USER-table subscription
 *               each), shared (one more, on a SHARED table), on_node, resume_on, writers_on, write_every_ms,
 *               cleanup_timeout_ms. Subscribers connect to on_node and, when their connection closes, resume on
 *               resume_on from their cursor; writers commit through writers_on. on_node must differ from the
 *               other two.
 *   [exactly_once] optional exactly-once writes (drill/exactly-once.ts): clients, keys_per_client, shared,
 *               sessions, call_deadline_ms, attempt_timeout_ms, write_every_ms, drop_answer_every. `@kalam/client`
 *               clients over every node increment counters (`n = n + 1`) and retry every unknown outcome; each
 *               counter must equal its answered increments. drop_answer_every = N loses the answer to every Nth
 *               write of a client after the server applied it. Not with a destroy step (the clients keep the first
 *               cluster's nodes).
 *
 * A target is a node id or a role resolved when the step runs: "leader of GROUP", "a follower of GROUP",
 * "node leading most groups", "random" (drawn from the drill's seed), "previous" (the node the last targeted
 * step chose). Every step is bounded in time: waits by waitMsMax, wait_for by its timeout, the others by the
 * ClusterController's own bounds.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { allGroups, groupFromName, groupName } from '@kalam/kalamdb';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { KillSignal, NetworkRule, NodeId, PartitionDirection } from '../cluster/types.js';
import { CliError } from '../errors.js';
import { CLI_LIMITS } from '../limits.js';
import { DRILL_LIMITS } from './limits.js';

export type Target =
  | { readonly kind: 'node'; readonly id: NodeId }
  | { readonly kind: 'leader'; readonly group: string }
  | { readonly kind: 'follower'; readonly group: string }
  | { readonly kind: 'most-leader' }
  | { readonly kind: 'random' }
  | { readonly kind: 'previous' };

export type WaitCondition = 'leaders' | 'nodes-up' | 'caught-up';
export type CheckExpectation = 'leaders' | 'nodes-up' | 'progress';

export type DrillStep =
  | { readonly action: 'wait'; readonly ms: number }
  | { readonly action: 'kill'; readonly target: Target; readonly signal: KillSignal }
  | { readonly action: 'start'; readonly target: Target }
  | { readonly action: 'restart'; readonly target: Target }
  | {
      readonly action: 'partition';
      readonly target: Target;
      readonly direction: PartitionDirection;
      readonly from?: readonly NodeId[];
    }
  | {
      readonly action: 'network';
      readonly target: Target;
      readonly rule: NetworkRule;
      readonly peers?: readonly NodeId[];
    }
  | { readonly action: 'heal'; readonly target?: Target }
  | { readonly action: 'disk'; readonly target: Target; readonly fsyncDelayMs: number }
  | { readonly action: 'wipe'; readonly target: Target }
  | { readonly action: 'wait_for'; readonly condition: WaitCondition; readonly timeoutMs: number }
  | { readonly action: 'check'; readonly expect: CheckExpectation; readonly withinMs: number }
  | { readonly action: 'flush'; readonly wait: boolean; readonly timeoutMs: number }
  | { readonly action: 'sql'; readonly statements: readonly string[]; readonly repeat: number }
  | { readonly action: 'count_rows'; readonly target: Target; readonly timeoutMs: number }
  | { readonly action: 'add_node'; readonly timeoutMs: number }
  | { readonly action: 'remove_node'; readonly target: Target; readonly timeoutMs: number }
  | { readonly action: 'replace_node'; readonly target: Target; readonly timeoutMs: number }
  | { readonly action: 'backup' }
  | { readonly action: 'destroy' }
  | { readonly action: 'restore' };

export type StepAction = DrillStep['action'];

export interface WorkloadSpec {
  readonly clients: number;
  readonly users: number;
  readonly keysPerUser: number;
  readonly sharedKeys: number;
  /** Share of calls that go to the SHARED table, in [0, 1]. */
  readonly sharedShare: number;
  /** Relative weights of the three kinds of call. */
  readonly mix: { readonly read: number; readonly write: number; readonly cas: number };
  readonly callTimeoutMs: number;
  readonly thinkMs: number;
}

export interface ChecksSpec {
  readonly linearizableBudgetMs: number;
  readonly convergeTimeoutMs: number;
  readonly healTimeoutMs: number;
  /** When set, a fault whose group took longer than this to serve again or to elect a leader fails `availability`. */
  readonly availabilityBoundMs: number | null;
}

/** The `[live]` section: subscribers on one node, writers on another, a resume node (drill/live.ts). */
export interface LiveSpec {
  /** Users, each with one subscription to its own rows of the live USER table. */
  readonly subscribers: number;
  /** One more subscription, to the live SHARED table. */
  readonly shared: boolean;
  readonly onNode: NodeId;
  readonly resumeOn: NodeId;
  readonly writersOn: NodeId;
  /** Pause between two writes of one writer. */
  readonly writeEveryMs: number;
  /** Bound of the wait for on_node's registrations to leave system.live_queries. */
  readonly cleanupTimeoutMs: number;
}

/** The `[exactly_once]` section: counters incremented through `@kalam/client` (drill/exactly-once.ts). */
export interface ExactlyOnceSpec {
  /** Clients, each a user of its own with keysPerClient counters in the USER table. */
  readonly clients: number;
  readonly keysPerClient: number;
  /** One more counter, in a SHARED table, that every client increments. */
  readonly shared: boolean;
  /** Client sessions on (exactly-once) or off: the control run, which must find doubled increments. */
  readonly sessions: boolean;
  /** A write's total deadline in the client, across its attempts. */
  readonly callDeadlineMs: number;
  /** One HTTP attempt of the client; past it the next node is tried. */
  readonly attemptTimeoutMs: number;
  /** Pause between two increments of one client. */
  readonly writeEveryMs: number;
  /**
   * 0, or N: the success answer to every Nth write of a client is dropped on its way back (the first attempt's
   * only), as a network losing a response would — the write is applied and its client must retry it unanswered.
   */
  readonly dropAnswerEvery: number;
}

export interface DrillSpec {
  readonly file: string;
  readonly name: string;
  readonly description: string;
  readonly nodes: number;
  readonly seed: number;
  readonly maxDurationMs: number;
  readonly shortScale: number;
  readonly env: Readonly<Record<string, string>>;
  readonly workload: WorkloadSpec;
  readonly checks: ChecksSpec;
  /** null when the file has no `[live]` section. */
  readonly live: LiveSpec | null;
  /** null when the file has no `[exactly_once]` section. */
  readonly exactlyOnce: ExactlyOnceSpec | null;
  readonly steps: readonly DrillStep[];
}

const TOP_KEYS = [
  'name',
  'description',
  'nodes',
  'seed',
  'max_duration_ms',
  'short_scale',
  'env',
  'workload',
  'checks',
  'live',
  'exactly_once',
  'steps',
];
const WORKLOAD_KEYS = [
  'clients',
  'users',
  'keys_per_user',
  'shared_keys',
  'shared_share',
  'read',
  'write',
  'cas',
  'call_timeout_ms',
  'think_ms',
];
const LIVE_KEYS = [
  'subscribers',
  'shared',
  'on_node',
  'resume_on',
  'writers_on',
  'write_every_ms',
  'cleanup_timeout_ms',
];
const EXACTLY_ONCE_KEYS = [
  'clients',
  'keys_per_client',
  'shared',
  'sessions',
  'call_deadline_ms',
  'attempt_timeout_ms',
  'write_every_ms',
  'drop_answer_every',
];
const CHECK_KEYS = ['linearizable_budget_ms', 'converge_timeout_ms', 'heal_timeout_ms', 'availability_bound_ms'];
const STEP_KEYS: Readonly<Record<StepAction, readonly string[]>> = {
  wait: ['ms'],
  kill: ['target', 'signal'],
  start: ['target'],
  restart: ['target'],
  partition: ['target', 'direction', 'from'],
  network: ['target', 'delay_ms', 'jitter_ms', 'loss', 'duplication', 'peers'],
  heal: ['target'],
  disk: ['target', 'fsync_delay_ms'],
  wipe: ['target'],
  wait_for: ['condition', 'timeout_ms'],
  check: ['expect', 'within_ms'],
  flush: ['wait', 'timeout_ms'],
  sql: ['statements', 'repeat'],
  count_rows: ['target', 'timeout_ms'],
  add_node: ['timeout_ms'],
  remove_node: ['target', 'timeout_ms'],
  replace_node: ['target', 'timeout_ms'],
  backup: [],
  destroy: [],
  restore: [],
};
const ACTIONS = Object.keys(STEP_KEYS) as StepAction[];
const SIGNALS: readonly KillSignal[] = ['KILL', 'TERM', 'STOP', 'CONT'];
const DIRECTIONS: readonly PartitionDirection[] = ['both', 'in', 'out'];
const CONDITIONS: readonly WaitCondition[] = ['leaders', 'nodes-up', 'caught-up'];
const EXPECTATIONS: readonly CheckExpectation[] = ['leaders', 'nodes-up', 'progress'];
/** The most a network rule may delay one message, and the most a disk fault may delay one fsync. */
const DELAY_MS_MAX = 10_000;
/** The 36 groups of every node (DEFAULT_SHARDING). */
const GROUP_NAMES: readonly string[] = allGroups().map(groupName);
/** A drill name: it names the report folder and the cluster. */
const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** What `kalam drill run` may override in a file: its node count (`--nodes`). */
export interface DrillOverrides {
  readonly nodes?: number;
}

/** Reads and validates a drill file. */
export function loadDrill(file: string, overrides: DrillOverrides = {}): DrillSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
    throw new CliError('DRILL_INVALID', `${file}: cannot read the drill file (${reason})`);
  }
  return parseDrill(text, file, overrides);
}

/**
 * Validates drill TOML; `file` names the source in error messages. `overrides.nodes` replaces the file's `nodes`
 * before anything is checked against it (node ids of targets and of `[live]`).
 */
export function parseDrill(text: string, file: string, overrides: DrillOverrides = {}): DrillSpec {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split('\n', 1)[0] ?? 'invalid TOML';
      throw new CliError('DRILL_INVALID', `${file}:${err.line}:${err.column}: ${first}`);
    }
    throw err;
  }
  const top = new Reader(file, '', doc);
  top.onlyKeys(TOP_KEYS);
  const fallbackName = basename(file).replace(/\.toml$/, '');
  const name = top.string('name', fallbackName);
  if (!NAME_PATTERN.test(name)) top.fail('name', 'must be lower-case letters, digits and dashes (at most 64)');
  const fileNodes = top.integer('nodes', 3, DRILL_LIMITS.nodesMin, DRILL_LIMITS.nodesMax);
  const nodes = overrides.nodes ?? fileNodes;
  if (nodes < DRILL_LIMITS.nodesMin || nodes > DRILL_LIMITS.nodesMax || !Number.isInteger(nodes)) {
    throw new CliError(
      'DRILL_INVALID',
      `--nodes must be an integer from ${DRILL_LIMITS.nodesMin} to ${DRILL_LIMITS.nodesMax}`,
    );
  }
  const spec = {
    file,
    name,
    description: top.string('description', ''),
    nodes,
    seed: top.integer('seed', 1, 0, CLI_LIMITS.seedMax),
    maxDurationMs: top.integer('max_duration_ms', DRILL_LIMITS.runMsDefault, 1_000, DRILL_LIMITS.runMsMax),
    shortScale: top.number('short_scale', DRILL_LIMITS.shortScaleDefault, 0.01, 1),
    env: readEnv(top.table('env')),
    workload: readWorkload(top.table('workload')),
    checks: readChecks(top.table('checks')),
    live: doc['live'] === undefined ? null : readLive(top.table('live'), nodes),
    exactlyOnce: doc['exactly_once'] === undefined ? null : readExactlyOnce(top.table('exactly_once')),
    steps: [] as DrillStep[],
  };
  const rawSteps = doc['steps'];
  if (rawSteps !== undefined && !Array.isArray(rawSteps)) top.fail('steps', 'must be an array of tables ([[steps]])');
  const list = (rawSteps ?? []) as unknown[];
  if (list.length > DRILL_LIMITS.stepsMax) top.fail('steps', `at most ${DRILL_LIMITS.stepsMax} steps`);
  list.forEach((raw, i) => {
    const where = `step ${i + 1}`;
    if (!isTable(raw)) throw new CliError('DRILL_INVALID', `${file}: ${where}: must be a table`);
    spec.steps.push(readStep(new Reader(file, where, raw), nodes));
  });
  checkBackupOrder(file, spec.steps);
  const destroy = spec.steps.findIndex((s) => s.action === 'destroy');
  if (spec.exactlyOnce !== null && destroy >= 0) {
    throw new CliError(
      'DRILL_INVALID',
      `${file}: step ${destroy + 1}: action: a drill with [exactly_once] cannot destroy its cluster (its clients keep the first cluster's nodes)`,
    );
  }
  return spec;
}

/**
 * backup, destroy and restore: at most one of each, in that order, and a destroy only with a restore after it (a
 * drill that ends destroyed has no cluster for the final heal and checks). The runner's checks split the history at
 * them (drill/backup-steps.ts).
 */
function checkBackupOrder(file: string, steps: readonly DrillStep[]): void {
  const at = (action: StepAction): number[] => steps.flatMap((s, i) => (s.action === action ? [i + 1] : []));
  const [backups, destroys, restores] = [at('backup'), at('destroy'), at('restore')];
  for (const [action, list] of [
    ['backup', backups],
    ['destroy', destroys],
    ['restore', restores],
  ] as const) {
    if (list.length > 1) throw new CliError('DRILL_INVALID', `${file}: step ${list[1]}: action: at most one ${action}`);
  }
  const [b, d, r] = [backups[0], destroys[0], restores[0]];
  const fail = (step: number, message: string): never => {
    throw new CliError('DRILL_INVALID', `${file}: step ${step}: action: ${message}`);
  };
  if (d !== undefined && (b === undefined || b > d)) fail(d, 'destroy needs a backup step before it');
  if (d !== undefined && (r === undefined || r < d)) fail(d, 'destroy needs a restore step after it');
  if (r !== undefined && (d === undefined || d > r)) fail(r, 'restore needs a destroy step before it');
}

function readEnv(r: Reader): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of r.keys()) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) r.fail(key, 'environment variable names are upper case, digits and _');
    const value = r.raw(key);
    if (typeof value === 'string') env[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') env[key] = String(value);
    else r.fail(key, 'must be a string, a number or a boolean');
  }
  return env;
}

function readWorkload(r: Reader): WorkloadSpec {
  r.onlyKeys(WORKLOAD_KEYS);
  const mix = {
    read: r.number('read', 0.5, 0, 1_000),
    write: r.number('write', 0.3, 0, 1_000),
    cas: r.number('cas', 0.2, 0, 1_000),
  };
  if (mix.read + mix.write + mix.cas <= 0) r.fail('read', 'the weights read + write + cas must add up to more than 0');
  const workload: WorkloadSpec = {
    clients: r.integer('clients', 6, 0, DRILL_LIMITS.clientsMax),
    users: r.integer('users', 24, 1, DRILL_LIMITS.usersMax),
    keysPerUser: r.integer('keys_per_user', 1, 1, DRILL_LIMITS.keysPerUserMax),
    sharedKeys: r.integer('shared_keys', 8, 0, DRILL_LIMITS.sharedKeysMax),
    sharedShare: r.number('shared_share', 0.2, 0, 1),
    mix,
    callTimeoutMs: r.integer('call_timeout_ms', DRILL_LIMITS.callTimeoutMsDefault, 100, DRILL_LIMITS.callTimeoutMsMax),
    thinkMs: r.integer('think_ms', DRILL_LIMITS.thinkMsDefault, 0, 10_000),
  };
  if (workload.sharedShare > 0 && workload.sharedKeys === 0) r.fail('shared_share', 'needs shared_keys > 0');
  return workload;
}

function readChecks(r: Reader): ChecksSpec {
  r.onlyKeys(CHECK_KEYS);
  const bound = r.raw('availability_bound_ms');
  return {
    linearizableBudgetMs: r.integer(
      'linearizable_budget_ms',
      DRILL_LIMITS.checkBudgetMsDefault,
      100,
      DRILL_LIMITS.checkBudgetMsMax,
    ),
    convergeTimeoutMs: r.integer('converge_timeout_ms', DRILL_LIMITS.convergeMsDefault, 100, DRILL_LIMITS.waitForMsMax),
    healTimeoutMs: r.integer('heal_timeout_ms', DRILL_LIMITS.healMsDefault, 100, DRILL_LIMITS.waitForMsMax),
    availabilityBoundMs: bound === undefined ? null : r.integer('availability_bound_ms', 0, 1, DRILL_LIMITS.runMsMax),
  };
}

function readLive(r: Reader, nodes: number): LiveSpec {
  r.onlyKeys(LIVE_KEYS);
  const node = (key: string, fallback: number): NodeId => r.integer(key, fallback, 1, nodes);
  const shared = r.raw('shared') ?? false;
  if (typeof shared !== 'boolean') r.fail('shared', 'must be true or false');
  const live: LiveSpec = {
    subscribers: r.integer('subscribers', 4, 1, DRILL_LIMITS.liveSubscribersMax),
    shared,
    onNode: node('on_node', 2),
    resumeOn: node('resume_on', 3),
    writersOn: node('writers_on', 1),
    writeEveryMs: r.integer('write_every_ms', DRILL_LIMITS.liveWriteEveryMsDefault, 0, 10_000),
    cleanupTimeoutMs: r.integer(
      'cleanup_timeout_ms',
      DRILL_LIMITS.liveCleanupMsDefault,
      DRILL_LIMITS.liveCleanupMsMin,
      DRILL_LIMITS.waitForMsMax,
    ),
  };
  if (live.resumeOn === live.onNode) r.fail('resume_on', `must differ from on_node (${live.onNode})`);
  if (live.writersOn === live.onNode) r.fail('writers_on', `must differ from on_node (${live.onNode})`);
  return live;
}

function readExactlyOnce(r: Reader): ExactlyOnceSpec {
  r.onlyKeys(EXACTLY_ONCE_KEYS);
  const spec: ExactlyOnceSpec = {
    clients: r.integer('clients', 4, 1, DRILL_LIMITS.exactlyOnceClientsMax),
    keysPerClient: r.integer('keys_per_client', 2, 1, DRILL_LIMITS.keysPerUserMax),
    shared: r.boolean('shared', true),
    sessions: r.boolean('sessions', true),
    callDeadlineMs: r.integer(
      'call_deadline_ms',
      DRILL_LIMITS.exactlyOnceDeadlineMsDefault,
      1_000,
      DRILL_LIMITS.exactlyOnceDeadlineMsMax,
    ),
    attemptTimeoutMs: r.integer(
      'attempt_timeout_ms',
      DRILL_LIMITS.callTimeoutMsDefault,
      100,
      DRILL_LIMITS.callTimeoutMsMax,
    ),
    writeEveryMs: r.integer('write_every_ms', DRILL_LIMITS.thinkMsDefault, 0, 10_000),
    dropAnswerEvery: r.integer('drop_answer_every', 0, 0, 1_000_000),
  };
  if (spec.attemptTimeoutMs > spec.callDeadlineMs) {
    r.fail('attempt_timeout_ms', `must not exceed call_deadline_ms (${spec.callDeadlineMs})`);
  }
  return spec;
}

function readStep(r: Reader, nodes: number): DrillStep {
  const actionRaw = r.raw('action');
  if (typeof actionRaw !== 'string' || !(ACTIONS as string[]).includes(actionRaw)) {
    r.fail('action', `must be one of ${ACTIONS.join(', ')}`);
  }
  const action = actionRaw as StepAction;
  r.onlyKeys(['action', ...STEP_KEYS[action]]);
  const target = (): Target => readTarget(r, nodes, true) as Target;
  const membershipTimeout = (): number =>
    r.integer('timeout_ms', DRILL_LIMITS.membershipMsDefault, 1_000, DRILL_LIMITS.membershipMsMax);
  const nodeList = (key: string): { [k: string]: readonly NodeId[] } => {
    const raw = r.raw(key);
    if (raw === undefined) return {};
    if (!Array.isArray(raw) || raw.length === 0 || !raw.every((n) => Number.isInteger(n) && n >= 1 && n <= nodes)) {
      r.fail(key, `must be a non-empty list of node ids from 1 to ${nodes}`);
    }
    return { [key === 'from' ? 'from' : 'peers']: (raw as number[]).map(Number) };
  };
  switch (action) {
    case 'wait':
      return { action, ms: r.integer('ms', undefined, 0, DRILL_LIMITS.waitMsMax) };
    case 'kill':
      return { action, target: target(), signal: r.oneOf('signal', SIGNALS, 'KILL') };
    case 'start':
    case 'restart':
    case 'wipe':
      return { action, target: target() };
    case 'partition':
      return { action, target: target(), direction: r.oneOf('direction', DIRECTIONS, 'both'), ...nodeList('from') };
    case 'network': {
      const rule: NetworkRule = {
        delayMs: r.integer('delay_ms', 0, 0, DELAY_MS_MAX),
        jitterMs: r.integer('jitter_ms', 0, 0, DELAY_MS_MAX),
        dropRate: r.number('loss', 0, 0, 1),
        duplicateRate: r.number('duplication', 0, 0, 1),
      };
      return { action, target: target(), rule, ...nodeList('peers') };
    }
    case 'heal': {
      const t = readTarget(r, nodes, false);
      return t === undefined ? { action } : { action, target: t };
    }
    case 'disk':
      return { action, target: target(), fsyncDelayMs: r.integer('fsync_delay_ms', undefined, 0, DELAY_MS_MAX) };
    case 'wait_for':
      return {
        action,
        condition: r.oneOf('condition', CONDITIONS, 'leaders'),
        timeoutMs: r.integer('timeout_ms', DRILL_LIMITS.waitForMsDefault, 1, DRILL_LIMITS.waitForMsMax),
      };
    case 'check':
      return {
        action,
        expect: r.oneOf('expect', EXPECTATIONS, undefined),
        withinMs: r.integer('within_ms', 5_000, 1, DRILL_LIMITS.waitMsMax),
      };
    case 'flush':
      return {
        action,
        wait: r.boolean('wait', true),
        timeoutMs: r.integer('timeout_ms', DRILL_LIMITS.waitForMsDefault, 1, DRILL_LIMITS.waitForMsMax),
      };
    case 'sql': {
      const raw = r.raw('statements');
      if (!Array.isArray(raw) || raw.length === 0 || !raw.every((x) => typeof x === 'string' && x.trim() !== '')) {
        r.fail('statements', 'must be a non-empty list of SQL statements');
      }
      if ((raw as string[]).length > DRILL_LIMITS.sqlStatementsMax) {
        r.fail('statements', `at most ${DRILL_LIMITS.sqlStatementsMax}`);
      }
      return { action, statements: raw as string[], repeat: r.integer('repeat', 1, 1, DRILL_LIMITS.sqlRepeatMax) };
    }
    case 'count_rows':
      return {
        action,
        target: target(),
        timeoutMs: r.integer('timeout_ms', DRILL_LIMITS.waitForMsDefault, 1, DRILL_LIMITS.waitForMsMax),
      };
    case 'add_node':
      return { action, timeoutMs: membershipTimeout() };
    case 'remove_node':
    case 'replace_node':
      return { action, target: target(), timeoutMs: membershipTimeout() };
    case 'backup':
    case 'destroy':
    case 'restore':
      return { action };
  }
}

const TARGET_HELP =
  'must be a node id, "leader of GROUP", "a follower of GROUP", "node leading most groups", "random" or "previous"';

function readTarget(r: Reader, nodes: number, required: boolean): Target | undefined {
  const raw = r.raw('target');
  if (raw === undefined) {
    if (required) r.fail('target', `is required; it ${TARGET_HELP.replace(/^must be/, 'is')}`);
    return undefined;
  }
  if (typeof raw === 'number') {
    if (!Number.isInteger(raw) || raw < 1 || raw > nodes) r.fail('target', `node ${raw} is not one of 1..${nodes}`);
    return { kind: 'node', id: raw };
  }
  if (typeof raw !== 'string') return r.fail('target', TARGET_HELP);
  const text = raw.trim().toLowerCase().replace(/\s+/g, ' ');
  if (/^\d+$/.test(text)) return readTarget(new Reader(r.file, r.where, { target: Number(text) }), nodes, required);
  if (text === 'node leading most groups') return { kind: 'most-leader' };
  if (text === 'random') return { kind: 'random' };
  if (text === 'previous') return { kind: 'previous' };
  const role = /^(leader of|a follower of|follower of) (\S+)$/.exec(text);
  if (role === null) return r.fail('target', TARGET_HELP);
  const group = role[2] ?? '';
  let canonical = '';
  try {
    canonical = groupName(groupFromName(group));
  } catch {
    // An unparsable name is reported below like a name of a group the cluster does not have.
  }
  if (!GROUP_NAMES.includes(canonical)) {
    return r.fail('target', `unknown group ${group} (e.g. meta:system, data:user:07, data:shared:00)`);
  }
  return role[1] === 'leader of' ? { kind: 'leader', group: canonical } : { kind: 'follower', group: canonical };
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Typed access to one TOML table; every problem is a one-line CliError naming file, step and key. */
class Reader {
  constructor(
    readonly file: string,
    /** '' at the top, a table name ("workload") or a step ("step 3"). */
    readonly where: string,
    private readonly t: Record<string, unknown>,
  ) {}

  fail(key: string, message: string): never {
    const place = this.where === '' ? '' : `${this.where}: `;
    throw new CliError('DRILL_INVALID', `${this.file}: ${place}${key}: ${message}`);
  }

  keys(): string[] {
    return Object.keys(this.t);
  }

  raw(key: string): unknown {
    return this.t[key];
  }

  onlyKeys(allowed: readonly string[]): void {
    for (const key of Object.keys(this.t)) {
      if (!allowed.includes(key)) this.fail(key, `unknown key (known: ${allowed.join(', ')})`);
    }
  }

  table(key: string): Reader {
    const v = this.t[key];
    if (v === undefined) return new Reader(this.file, key, {});
    if (!isTable(v)) this.fail(key, 'must be a table');
    return new Reader(this.file, key, v);
  }

  string(key: string, fallback: string): string {
    const v = this.t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string') this.fail(key, 'must be a string');
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.t[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(key, 'must be true or false');
    return v;
  }

  number(key: string, fallback: number | undefined, min: number, max: number): number {
    const v = this.t[key];
    if (v === undefined) {
      if (fallback === undefined) this.fail(key, 'is required');
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.fail(key, `must be a number from ${min} to ${max}`);
    }
    return v;
  }

  integer(key: string, fallback: number | undefined, min: number, max: number): number {
    const v = this.t[key];
    if (v === undefined) {
      if (fallback === undefined) this.fail(key, 'is required');
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(key, `must be an integer from ${min} to ${max}`);
    }
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T | undefined): T {
    const v = this.t[key];
    if (v === undefined) {
      if (fallback === undefined) this.fail(key, `is required (one of ${allowed.join(', ')})`);
      return fallback;
    }
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(key, `must be one of ${allowed.join(', ')}`);
    }
    return v as T;
  }
}

/** The wait of a step under --short: scaled down, never below 1 ms for a non-zero wait. */
export function scaledWaitMs(ms: number, short: boolean, scale: number): number {
  if (!short || ms === 0) return ms;
  return Math.max(1, Math.round(ms * scale));
}
