/**
 * The backup/restore drill's steps ([M10] §3: "back up under load, destroy every node's data, restore, start"), and
 * the checks that understand its cut. The steps run the code of `kalam backup` (backup/take.ts), of `kalam cluster
 * down` after SIGKILL and a wipe of every node, and of `kalam restore` (backup/restore.ts) followed by `kalam cluster
 * up` on the restored folder — what an operator does, with the clients writing throughout.
 *
 * The history splits in two at the moment the clients move to the restored nodes (`switchMs`):
 *   - before it, the original cluster: linearizable as usual; every write acknowledged before the backup step began
 *     (`backupStartMs`) must be in the restored cluster, read key by key on every restored node right after the
 *     restore (those reads are not in the history); writes acknowledged after that may be missing — counted;
 *   - from it on, the restored cluster, whose initial values are those restore reads: linearizable, no acknowledged
 *     write lost by the end (the final reads), and at least one write acknowledged (it serves again).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Operation, Value } from '@kalam/check';
import { HistoryRecorder } from '@kalam/check';
import { restoreBackup } from '../backup/restore.js';
import { takeBackup } from '../backup/take.js';
import { findFreeBasePort } from '../cluster/folder.js';
import type { ClusterController, NodeId } from '../cluster/types.js';
import type { CheckOutcome, FinalRead, FinalReads } from './checks.js';
import { checkLinearizable, checkNoLostAcks, isAckedWrite, writtenValue } from './checks.js';
import { CliError } from '../errors.js';
import type { ClusterFactory } from './runner.js';
import type { DrillSpec } from './spec.js';
import type { DrillTransport } from './transport.js';
import type { Account, DrillNode, WorkloadSetup } from './workload.js';
import { login } from './workload.js';

/** When the cut's moments happened on the drill's clock; null until they did. */
export interface CutRecord {
  backupStartMs: number | null;
  backupFile: string | null;
  destroyAtMs: number | null;
  /** The clients use the restored nodes from here on. */
  switchMs: number | null;
  /** Each key's value in the restored cluster, read on every node before the clients moved (null: none). */
  restoreReads: FinalReads | null;
}

export function newCut(): CutRecord {
  return { backupStartMs: null, backupFile: null, destroyAtMs: null, switchMs: null, restoreReads: null };
}

/**
 * The drill's ClusterController: the one `factory` brought up, then, after a restore step, the restored cluster's.
 * Everything the runner holds (sampler, heal, final `down`) goes through it. `down({ wipe: true })` also removes
 * the folders of the clusters it replaced.
 */
export class RestorableCluster implements ClusterController {
  private readonly retiredDirs: string[] = [];

  constructor(private current: ClusterController) {}

  get manifest(): ClusterController['manifest'] {
    return this.current.manifest;
  }
  get credentials(): ClusterController['credentials'] {
    return this.current.credentials;
  }
  replace(next: ClusterController): void {
    this.retiredDirs.push(this.current.manifest.dir);
    this.current = next;
  }
  status: ClusterController['status'] = () => this.current.status();
  kill: ClusterController['kill'] = (n, s) => this.current.kill(n, s);
  start: ClusterController['start'] = (n) => this.current.start(n);
  restart: ClusterController['restart'] = (n) => this.current.restart(n);
  partition: ClusterController['partition'] = (n, o) => this.current.partition(n, o);
  network: ClusterController['network'] = (n, r, p) => this.current.network(n, r, p);
  heal: ClusterController['heal'] = (n) => this.current.heal(n);
  disk: ClusterController['disk'] = (n, ms) => this.current.disk(n, ms);
  wipe: ClusterController['wipe'] = (n) => this.current.wipe(n);
  digests: ClusterController['digests'] = (n) => this.current.digests(n);
  addNode: ClusterController['addNode'] = (o) => this.current.addNode(o);
  removeNode: ClusterController['removeNode'] = (n, o) => this.current.removeNode(n, o);
  down: ClusterController['down'] = async (o) => {
    await this.current.down(o);
    if (o?.wipe === true) for (const dir of this.retiredDirs) rmSync(dir, { recursive: true, force: true });
  };
}

export interface BackupStepContext {
  readonly ctl: RestorableCluster;
  readonly cut: CutRecord;
  readonly clock: () => number;
  readonly reportDir: string;
  readonly factory: ClusterFactory;
  readonly env: Readonly<Record<string, string>>;
  readonly transport: DrillTransport;
  readonly callTimeoutMs: number;
  readonly setup: WorkloadSetup;
  /** The runner's root account (its `auth` is replaced after the restore, like the workload users'). */
  readonly root: Account;
  /** The clients' nodes, replaced in place by the restored ones. */
  readonly nodes: DrillNode[];
  /** Every key read on every node of `nodes`, into `recorder` (the runner's final reads). */
  readonly readAll: (recorder: HistoryRecorder, nodes: readonly DrillNode[]) => Promise<FinalReads>;
  readonly progress: (line: string) => void;
}

/**
 * A drill with a restore step runs only on a plain loopback cluster: `kalam restore` writes a folder without
 * namespaces or certificates. Refused before anything starts (DRILL_INVALID, exit 2) rather than at the step, after
 * which the run would wait out every bound on a cluster that is gone.
 */
export function checkRestorable(spec: DrillSpec, opts: { netns?: boolean; tls?: boolean }): void {
  if (!spec.steps.some((s) => s.action === 'restore')) return;
  const flag = opts.netns === true ? '--netns' : opts.tls === true ? '--tls' : null;
  if (flag !== null) {
    throw new CliError('DRILL_INVALID', `${spec.file}: a drill with a restore step does not run with ${flag}`);
  }
}

/** `kalam backup` of the running cluster, every node an endpoint (the first that answers gives the cut). */
export async function backupStep(c: BackupStepContext): Promise<string> {
  c.cut.backupStartMs = c.clock();
  const result = await takeBackup(
    {
      label: `cluster ${c.ctl.manifest.name}`,
      endpoints: c.nodes.map((n) => ({ nodeId: n.id, apiUrl: n.apiUrl })),
      user: c.root.username,
      password: c.root.password,
      historyPath: '',
      clusterDown: false,
    },
    join(c.reportDir, 'backup.kalam-backup'),
  );
  c.cut.backupFile = result.file;
  return `backup from node ${result.manifest.node_id}: ${result.manifest.groups.length} groups, ${result.bytes} bytes`;
}

/** Every node killed and wiped, then the supervisor stopped: nothing of the cluster's data is left. */
export async function destroyStep(c: BackupStepContext): Promise<string> {
  c.cut.destroyAtMs = c.clock();
  const status = await c.ctl.status();
  for (const n of status.nodes) if (n.state !== 'down') await c.ctl.kill(n.id, 'KILL');
  for (const n of status.nodes) await c.ctl.wipe(n.id);
  await c.ctl.down({ wipe: false });
  return `destroy: ${status.nodes.length} node(s) killed and wiped, the supervisor stopped`;
}

/**
 * `kalam restore` into a new folder with as many nodes as the clients used, `kalam cluster up` on it, every account
 * logged in again (new cluster secret), each key read on every restored node, then the clients moved over.
 */
export async function restoreStep(c: BackupStepContext): Promise<string> {
  if (c.cut.backupFile === null) throw new Error('no backup to restore (the backup step failed)');
  const count = c.nodes.length;
  const into = join(c.reportDir, 'cluster-restored');
  const basePort = await findFreeBasePort(count);
  const name = c.ctl.manifest.name;
  await restoreBackup({
    file: c.cut.backupFile,
    into,
    nodes: count,
    basePort,
    password: c.root.password,
    name,
    onProgress: (line) => c.progress(`    restore: ${line}`),
  });
  const next = await c.factory({
    nodes: count,
    name,
    dir: into,
    basePort,
    env: { ...c.env },
    onProgress: (line) => c.progress(`    ${line}`),
  });
  c.ctl.replace(next);
  const restored: DrillNode[] = next.manifest.nodes.map((n) => ({ id: n.id, apiUrl: n.apiUrl }));
  const caller = { transport: c.transport, nodes: restored, timeoutMs: c.callTimeoutMs };
  const accounts = new Set<Account>([c.root, ...c.setup.keys.map((k) => k.owner)]);
  for (const a of accounts) a.auth = (await login(caller, a.username, a.password)).auth;
  // Not recorded in the drill's history: these reads belong to neither segment, they join them.
  const scratch = new HistoryRecorder(c.clock);
  c.cut.restoreReads = await c.readAll(scratch, restored);
  c.nodes.splice(0, c.nodes.length, ...restored);
  c.cut.switchMs = c.clock();
  return `restore: ${count} node(s) from ${c.cut.backupFile}, up at ${restored[0]?.apiUrl ?? '?'}; clients moved`;
}

/** The restore reads, one value per key when every restored node agrees; problems otherwise. */
function agreedValues(reads: FinalReads, problems: string[]): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const [key, byNode] of reads) {
    const answers = [...byNode.entries()] as [NodeId, FinalRead][];
    const bad = answers.filter(([, r]) => 'error' in r);
    if (answers.length === 0 || bad.length > 0) {
      problems.push(
        `${key}: not read after the restore (${bad.map(([n, r]) => `node ${n}: ${'error' in r ? r.error : ''}`).join(', ')})`,
      );
      continue;
    }
    const values = answers.map(([n, r]) => [n, 'value' in r ? r.value : null] as const);
    const first = values[0]?.[1] ?? null;
    if (values.some(([, v]) => v !== first)) {
      problems.push(
        `${key}: restored nodes disagree (${values.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(', ')})`,
      );
      continue;
    }
    out.set(key, first);
  }
  return out;
}

/**
 * The lost-write check across the cut: in the history before the switch, every write acknowledged before the backup
 * began must not be overwritten by the restored value of its key (the rule of checkNoLostAcks: lost when the value
 * comes from a write invoked before it was); writes acknowledged later are counted present or missing.
 */
export function checkCutKept(
  before: readonly Operation[],
  restored: ReadonlyMap<string, Value>,
  initialValues: Readonly<Record<string, Value>>,
  backupStartMs: number,
): CheckOutcome & { present: number; missing: number } {
  const byKey = new Map<string, Operation[]>();
  for (const op of before) byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  const problems: string[] = [];
  let kept = 0;
  let present = 0;
  let missing = 0;
  for (const [key, value] of restored) {
    const ops = byKey.get(key) ?? [];
    const initial = Object.hasOwn(initialValues, key) ? (initialValues[key] ?? null) : null;
    const writers = ops.filter((op) => writtenValue(op) === value);
    let producedAtMs = Number.NEGATIVE_INFINITY;
    let producer: Operation | undefined;
    if (value !== initial || writers.length > 0) {
      producer = writers.find((op) => op.outcome !== 'failed');
      if (producer === undefined) {
        problems.push(`${key}: restored value ${JSON.stringify(value)} was never written (or its write failed)`);
        continue;
      }
      producedAtMs = producer.outcome === 'ok' ? (producer.completedAtMs ?? Infinity) : Infinity;
    }
    for (const op of ops) {
      if (!isAckedWrite(op)) continue;
      const beforeCut = (op.completedAtMs ?? Infinity) < backupStartMs;
      const lost = op !== producer && producedAtMs < op.invokedAtMs;
      if (beforeCut) {
        kept++;
        if (lost)
          problems.push(
            `${key}: write ${JSON.stringify(writtenValue(op))} acknowledged before the backup is not in it`,
          );
      } else if (lost) missing++;
      else present++;
    }
  }
  const counts = `${kept} write(s) acknowledged before the backup; after it, ${present} present and ${missing} missing (allowed)`;
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).join('; ') + (problems.length > 3 ? ' …' : '');
    return {
      name: 'backup-cut',
      passed: false,
      detail: `${problems.length} problem(s): ${shown}; ${counts}`,
      present,
      missing,
    };
  }
  return {
    name: 'backup-cut',
    passed: true,
    detail: `${restored.size} keys restored equal on every node; ${counts}`,
    present,
    missing,
  };
}

/**
 * The checks of a drill that restored (they replace linearizable and no-lost-acks): the history split at the switch
 * (see the file comment). `history` includes the final reads.
 */
export function restoreChecks(
  cut: CutRecord,
  history: readonly Operation[],
  finalReads: FinalReads,
  initialValues: Readonly<Record<string, Value>>,
  budgetMs: number,
): CheckOutcome[] {
  const switchMs = cut.switchMs ?? Infinity;
  const before = history.filter((op) => op.invokedAtMs < switchMs);
  const after = history.filter((op) => op.invokedAtMs >= switchMs);
  const linearBefore = checkLinearizable(before, initialValues, budgetMs);
  const out: CheckOutcome[] = [{ ...linearBefore, name: 'linearizable-before-restore' }];
  const problems: string[] = [];
  const restored = cut.restoreReads === null ? new Map<string, Value>() : agreedValues(cut.restoreReads, problems);
  if (cut.restoreReads === null || cut.backupStartMs === null) {
    out.push({ name: 'backup-cut', passed: false, detail: 'the backup or the restore did not complete' });
    return out;
  }
  const kept = checkCutKept(before, restored, initialValues, cut.backupStartMs);
  out.push(
    problems.length === 0
      ? { name: kept.name, passed: kept.passed, detail: kept.detail }
      : { name: 'backup-cut', passed: false, detail: `${problems.slice(0, 3).join('; ')}; ${kept.detail}` },
  );
  const restoredValues = Object.fromEntries(restored);
  const linearAfter = checkLinearizable(after, restoredValues, budgetMs);
  out.push({ ...linearAfter, name: 'linearizable-after-restore' });
  const lostAfter = checkNoLostAcks(after, finalReads, restoredValues);
  out.push({ ...lostAfter, name: 'no-lost-acks-after-restore' });
  const served = after.filter((op) => isAckedWrite(op)).length;
  out.push({
    name: 'served-after-restore',
    passed: served > 0,
    detail: `${served} write(s) acknowledged by the restored cluster`,
  });
  return out;
}
