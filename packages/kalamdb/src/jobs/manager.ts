/**
 * The job manager: background work that runs exactly once cluster-wide, on the leader of `meta:jobs` (KalamDB's
 * phase 4, "leader-only job execution"). Standalone nodes run the same manager; there the node always leads.
 *
 * Loop (every JOBS_LIMITS.pollMs, one pass at a time): if this node does not lead meta:jobs, do nothing. On becoming
 * leader (RaftManager's `leaderChange` event, or the first pass that finds it leading), `onBecomeLeader` re-reads
 * meta:jobs after a read barrier (so it has applied everything the old leader committed) and treats every `running`
 * job as orphaned — only a leader runs jobs, and the node that claimed it no longer leads (it lost leadership or
 * died) — and applies the job type's declared policy: `requeue` (ReleaseJob, the job runs again) or `fail`
 * (FailJob). Then each pass, on this node's own state (the leader applies every job command itself, so no further
 * barrier is needed; a policy that sees a data shard a moment late only fires a moment late): fire due schedules,
 * create flush jobs for tables whose hot rows reached FLUSH_POLICY='rows:N', and run the oldest new/queued job:
 * ClaimJob{nodeId} through Raft FIRST, then the job's steps, then CompleteJob{result} or FailJob{error} — both naming
 * this node, so a late finish after another node re-claimed the job is refused. Losing leadership aborts the job
 * between two steps and stops claiming at once; the next leader re-queues it.
 *
 * Schedules (kalamdb schedule.ts): the default retention schedule, and those made with CREATE SCHEDULE (kalamdb
 * sql/schedules.ts). A firing creates the job `<scheduleId>@<due ms>` with the schedule's config plus `schedule`; a
 * flush schedule without a table creates `<scheduleId>@<due ms>:<ns.table>` for each table (of its namespace). A
 * dropped schedule fires no more; the jobs it already created still run.
 *
 * Job types (all idempotent, so all `requeue` on orphaning):
 * - flush (FLUSH TABLE, FLUSH ALL TABLES, FLUSH_POLICY): a table's hot rows → Parquet files (flush.ts).
 * - compaction (created after a flush leaves a scope with ≥ JOBS_LIMITS.compactionFilesMin files, or by a
 *   COMPACT TABLE schedule): merges a scope's files into one, dropping superseded versions and expired tombstones
 *   (rewrite.ts).
 * - retention (the default schedule, once a minute; or a RETENTION schedule, of one table or all): removes STREAM
 *   rows past TTL and soft-deleted rows past retention, with cutoffs chosen here (rewrite.ts).
 *
 * Storage layout (kalamdb cold/store.ts): `<data_dir>/storage/<ns>/<table>/users/<user>/*.parquet` for USER and
 * STREAM tables (one folder per user), `…/<ns>/<table>/shared/*.parquet` for SHARED tables; a table with a
 * STORAGE_ID uses that storage's path instead of `<data_dir>/storage`. Every node writes its own files when it
 * applies the shard's FlushRows/RewriteFiles, from its own identical rows, so every node has identical files.
 *
 * Test switches (TestSwitches, passed as an option; a node process reads them from its environment in the server's
 * planted.ts): a pause after every data command of a job, so that a test can kill the leader mid-job, and a
 * replacement for the default retention schedule's cron expression and soft-delete retention, so that a test sees
 * retention within seconds.
 */
import { COMMAND_LIMITS } from '../limits.js';
import { DEFAULT_RETENTION_SCHEDULE_ID, dueBetween, nextDue, scheduledJobId } from '../schedule.js';
import { JOB_ID_PREFIX } from '../sql/jobs.js';
import { groupNumber, MetaJobs } from '../group-id.js';
import type { CommandExecutor, StateMachines } from '../executor.js';
import type { JobsCommand } from '../commands.js';

import { runFlush } from './flush.js';
import { JOBS_LIMITS } from './limits.js';
import { runCompaction, runRetention } from './rewrite.js';
import { isPerUser, refusalOf } from './scopes.js';
import { JobAborted, JobContext } from './steps.js';
import type { JobRow } from './steps.js';

/** What a job type declares: how to run it, and what happens to it when its node stops leading mid-run. */
export interface JobType {
  readonly run: (ctx: JobContext) => Promise<string>;
  readonly onOrphan: 'requeue' | 'fail';
}

export const JOB_TYPES: Readonly<Record<string, JobType>> = {
  flush: { run: runFlush, onOrphan: 'requeue' },
  compaction: { run: runCompaction, onOrphan: 'requeue' },
  retention: { run: runRetention, onOrphan: 'requeue' },
};

export type JobLog = (level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => void;

export interface JobManagerOptions {
  readonly executor: CommandExecutor;
  readonly machines: StateMachines;
  /** Subscribes to leadership changes of a group (RaftManager.events); absent in standalone mode. */
  readonly onLeaderChange?: (fn: (e: { groupId: number; isLocal: boolean }) => void) => () => void;
  readonly now?: () => number;
  readonly log?: JobLog;
  /** The test switches (see the module comment); default: all off. */
  readonly testSwitches?: TestSwitches;
  /** Whether to install the default retention schedule on becoming leader (default true). */
  readonly defaultSchedules?: boolean;
  /** Waits on the node's clock between a job's retries (default: real timers; the simulator's clock there). */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface TestSwitches {
  readonly stepDelayMs: number;
  readonly retentionCron: string | null;
  readonly deletedRetentionMs: number | null;
}

const NO_SWITCHES: TestSwitches = { stepDelayMs: 0, retentionCron: null, deletedRetentionMs: null };

export class JobManager {
  private readonly executor: CommandExecutor;
  private readonly machines: StateMachines;
  private readonly now: () => number;
  private readonly log: JobLog;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private pass: Promise<void> | undefined;
  private leading = false;
  private stopped = false;
  /** Aborts the running job when leadership is lost. */
  private abort = new AbortController();
  /** Schedules: the due time each has fired up to (this leader's memory; job ids make re-firing harmless). */
  private readonly firedUpTo = new Map<string, number>();
  /**
   * Per schedule: the first due time after the point it was computed from, so that a poll before that time asks
   * croner nothing (working out a cron expression's next run is most of an idle pass's cost). Keyed with the
   * expression and creation time, so a schedule dropped and created again is computed afresh.
   */
  private readonly nextDueOf = new Map<string, { key: string; from: number; next: number | null }>();
  private jobCounter = 0;

  constructor(private readonly opts: JobManagerOptions) {
    this.executor = opts.executor;
    this.machines = opts.machines;
    this.now = opts.now ?? (() => Date.now());
    this.log = opts.log ?? (() => undefined);
  }

  /** Listens for leadership changes and polls every JOBS_LIMITS.pollMs on a real timer. */
  start(): void {
    this.watchLeadership();
    this.timer = setInterval(() => this.poll(), JOBS_LIMITS.pollMs);
  }

  /**
   * Listens for leadership changes of meta:jobs (start() does this; a caller with its own clock — the simulator —
   * calls this once and `poll()` on its clock).
   */
  watchLeadership(): void {
    this.unsubscribe = this.opts.onLeaderChange?.((e) => {
      if (e.groupId !== groupNumber(MetaJobs) || e.isLocal) return;
      // Lost meta:jobs: stop claiming now and stop the running job at its next step.
      this.leading = false;
      this.abort.abort();
    });
  }

  /** Starts a pass unless one is still running. */
  poll(): void {
    this.pass ??= this.runPass().finally(() => (this.pass = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    this.abort.abort();
    // A step may be waiting on a proposal; the job stops at its next step, but shutdown does not wait for that
    // longer than the bound: every job type is idempotent, and the next leader re-queues what was left running.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, JOBS_LIMITS.stopWaitMs)));
    await Promise.race([this.pass, bound]);
    clearTimeout(timer);
  }

  /** One pass of the loop (exposed for tests with an injected clock). */
  async runPass(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.executor.isLeader(MetaJobs)) {
        this.leading = false;
        return;
      }
      if (!this.leading) {
        this.abort = new AbortController();
        await this.onBecomeLeader();
        this.leading = true;
      }
      await this.fireSchedules();
      await this.applyFlushPolicies();
      await this.runNextJob();
    } catch (err) {
      this.log('warn', 'jobs.pass_failed', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Orphaned jobs (running, claimed by a node that no longer leads) are re-queued or failed by their type's policy. */
  async onBecomeLeader(): Promise<void> {
    await this.executor.readBarrier(MetaJobs);
    for (const j of this.machines.jobs.activeJobs().filter((x) => x['status'] === 'running')) {
      const jobId = String(j['job_id']);
      const type = JOB_TYPES[String(j['job_type'])];
      const at = this.now();
      const why = `node ${String(j['node_id'])} stopped leading meta:jobs while running it`;
      const cmd: JobsCommand =
        type?.onOrphan === 'requeue'
          ? {
              type: 'ReleaseJob',
              jobId,
              reason: `re-queued: ${why}`.slice(0, COMMAND_LIMITS.messageCharsMax),
              releasedAt: at,
            }
          : {
              type: 'FailJob',
              jobId,
              errorMessage: `failed: ${why}`.slice(0, COMMAND_LIMITS.messageCharsMax),
              failedAt: at,
            };
      await this.executor.executeJobs(cmd);
      this.log('info', 'jobs.orphan', { jobId, action: cmd.type });
    }
    if (
      this.opts.defaultSchedules !== false &&
      !this.machines.jobs.schedules().some((s) => s.scheduleId === DEFAULT_RETENTION_SCHEDULE_ID)
    ) {
      const sw = this.opts.testSwitches ?? NO_SWITCHES;
      await this.executor.executeJobs({
        type: 'CreateSchedule',
        scheduleId: DEFAULT_RETENTION_SCHEDULE_ID,
        jobType: 'retention',
        cronExpression: sw.retentionCron ?? JOBS_LIMITS.defaultRetentionCron,
        config: sw.deletedRetentionMs === null ? null : { deleted_retention_ms: sw.deletedRetentionMs },
        createdAt: this.now(),
      });
    }
  }

  /**
   * Fires every schedule with a due time in (since, now], where `since` is where this leader's memory says it fired
   * up to (or, for a schedule it has not seen yet, a few polls back), never before the schedule was created — so a
   * schedule dropped and created again under the same name does not fire for its predecessor. A dropped schedule is
   * no longer listed, so it fires no more. The job carries the schedule's config plus `schedule: <id>`; a flush
   * schedule without a table fans out into one flush job per table (of its namespace, when it names one).
   */
  private async fireSchedules(): Promise<void> {
    const now = this.now();
    const schedules = this.machines.jobs.schedules();
    const live = new Set(schedules.map((s) => s.scheduleId));
    for (const id of this.firedUpTo.keys()) if (!live.has(id)) this.firedUpTo.delete(id);
    for (const id of this.nextDueOf.keys()) if (!live.has(id)) this.nextDueOf.delete(id);
    for (const s of schedules) {
      const since = Math.max(s.createdAt, this.firedUpTo.get(s.scheduleId) ?? now - JOBS_LIMITS.pollMs * 5);
      const key = `${s.cronExpression}@${s.createdAt}`;
      const known = this.nextDueOf.get(s.scheduleId);
      // Nothing due in (since, now] when the first due time after an earlier point (≤ since) lies beyond now.
      if (
        known !== undefined &&
        known.key === key &&
        known.from <= since &&
        (known.next === null || known.next > now)
      ) {
        this.firedUpTo.set(s.scheduleId, now);
        continue;
      }
      let due: number | null;
      try {
        this.nextDueOf.set(s.scheduleId, { key, from: now, next: nextDue(s.cronExpression, now) });
        due = dueBetween(s.cronExpression, since, now);
      } catch (err) {
        this.log('warn', 'jobs.bad_schedule', { scheduleId: s.scheduleId, error: String(err) });
        continue;
      }
      this.firedUpTo.set(s.scheduleId, now);
      if (due === null) continue;
      const stored = s.config === null ? {} : (JSON.parse(s.config) as Record<string, string | number | boolean>);
      const config = { ...stored, schedule: s.scheduleId };
      const table = typeof stored['table'] === 'string' ? stored['table'] : null;
      const targets: (string | null)[] =
        table === null && s.jobType === 'flush' ? this.tablesIn(stored['namespace']) : [table];
      for (const tableId of targets) {
        const [ns, name] = tableId === null ? [null, null] : (tableId.split('.') as [string, string]);
        const jobId = scheduledJobId(s.scheduleId, due, table === null && tableId !== null ? tableId : undefined);
        const r = await this.executor.executeJobs({
          type: 'CreateJob',
          jobId,
          jobType: s.jobType,
          namespaceId: ns,
          tableName: name,
          config,
          createdAt: now,
        });
        if (refusalOf(r) === null) this.log('info', 'jobs.scheduled', { jobId, scheduleId: s.scheduleId, due });
      }
    }
  }

  /** Every table id of this node's catalog, of `namespace` when it is a string. */
  private tablesIn(namespace: unknown): string[] {
    return this.machines.system
      .tables()
      .map((t) => t.tableId)
      .filter((id) => typeof namespace !== 'string' || id.startsWith(`${namespace}.`));
  }

  /** FLUSH_POLICY='rows:N': a flush job once a table's hot rows on this node reach N, unless one is pending. */
  private async applyFlushPolicies(): Promise<void> {
    const pending = this.pendingJobs();
    for (const t of this.machines.system.tables()) {
      const limit = t.schema.options.flushPolicy?.rows;
      if (limit === undefined || pending.has(`flush:${t.tableId}`)) continue;
      // Counted only up to the limit (a table past it is flushed anyway): a whole count of a large table, every poll,
      // would hold this leader's event loop.
      const sm = isPerUser({ ...t }) ? this.machines.userShards[0] : this.machines.sharedShards[0];
      const hot = sm?.tableHotRowsUpTo(t.tableId, limit) ?? 0;
      if (hot >= limit) await this.createJob('flush', t.tableId, { reason: `policy rows:${limit}` });
    }
  }

  private pendingJobs(): Set<string> {
    const out = new Set<string>();
    for (const j of this.machines.jobs.activeJobs()) {
      const s = j['status'];
      if (s === 'new' || s === 'queued' || s === 'running') {
        out.add(`${String(j['job_type'])}:${String(j['namespace_id'])}.${String(j['table_name'])}`);
      }
    }
    return out;
  }

  private async createJob(jobType: string, tableId: string, config: Record<string, string>): Promise<void> {
    const [ns, table] = tableId.split('.') as [string, string];
    // Unique cluster-wide: the node id, this leader's clock and a counter (a node leads meta:jobs alone).
    this.jobCounter++;
    const jobId = `${JOB_ID_PREFIX[jobType] ?? 'JB'}-${this.now().toString(36)}-${this.executor.nodeId()}-${this.jobCounter}`;
    await this.executor.executeJobs({
      type: 'CreateJob',
      jobId,
      jobType,
      namespaceId: ns,
      tableName: table,
      config,
      createdAt: this.now(),
    });
    this.log('info', 'jobs.created', { jobId, jobType, tableId, ...config });
  }

  private async runNextJob(): Promise<void> {
    const next = this.machines.jobs.activeJobs().find((j) => j['status'] === 'new' || j['status'] === 'queued');
    if (next === undefined || !this.leading || !this.executor.isLeader(MetaJobs)) return;
    const job: JobRow = {
      jobId: String(next['job_id']),
      jobType: String(next['job_type']),
      namespaceId: (next['namespace_id'] as string | null) ?? null,
      tableName: (next['table_name'] as string | null) ?? null,
      config:
        typeof next['config_json'] === 'string' ? (JSON.parse(next['config_json']) as Record<string, unknown>) : {},
    };
    const type = JOB_TYPES[job.jobType];
    if (type === undefined) {
      await this.executor.executeJobs({
        type: 'FailJob',
        jobId: job.jobId,
        errorMessage: `unknown job type ${job.jobType}`,
        failedAt: this.now(),
      });
      return;
    }
    const nodeId = this.executor.nodeId();
    const claim = await this.executor.executeJobs({
      type: 'ClaimJob',
      jobId: job.jobId,
      nodeId,
      claimedAt: this.now(),
    });
    if (refusalOf(claim) !== null) return; // cancelled or claimed meanwhile: the next pass looks again
    this.log('info', 'jobs.claimed', { jobId: job.jobId, jobType: job.jobType, nodeId });
    const ctx = new JobContext(
      this.executor,
      this.machines,
      this.now,
      job,
      this.abort.signal,
      (this.opts.testSwitches ?? NO_SWITCHES).stepDelayMs,
      this.opts.sleep,
    );
    let result: string;
    try {
      result = await type.run(ctx);
      ctx.check();
    } catch (err) {
      if (err instanceof JobAborted) {
        this.log('warn', 'jobs.aborted', { jobId: job.jobId, reason: err.message });
        return; // the next leader re-queues it (or it was cancelled)
      }
      const message = err instanceof Error ? err.message : String(err);
      await this.executor.executeJobs({
        type: 'FailJob',
        jobId: job.jobId,
        // What meta:jobs stores is bounded (validate.ts); the whole message goes to the log below.
        errorMessage: message.slice(0, COMMAND_LIMITS.messageCharsMax),
        failedAt: this.now(),
        nodeId,
      });
      this.log('warn', 'jobs.failed', { jobId: job.jobId, error: message });
      return;
    }
    const done = await this.executor.executeJobs({
      type: 'CompleteJob',
      jobId: job.jobId,
      result,
      completedAt: this.now(),
      nodeId,
    });
    if (refusalOf(done) !== null) return; // re-claimed by another node (or cancelled) meanwhile
    this.log('info', 'jobs.completed', { jobId: job.jobId, result });
    if (job.jobType === 'flush') await this.compactIfNeeded(job);
  }

  /** After a flush: a compaction job when a scope of the table has reached JOBS_LIMITS.compactionFilesMin files. */
  private async compactIfNeeded(job: JobRow): Promise<void> {
    if (job.namespaceId === null || job.tableName === null) return;
    const tableId = `${job.namespaceId}.${job.tableName}`;
    const t = this.machines.system.catalog.table(tableId);
    if (t === undefined || this.pendingJobs().has(`compaction:${tableId}`)) return;
    const many = this.machines.cold
      .scopesOf(t)
      .some((s) => this.machines.cold.filesOf(t, s).length >= JOBS_LIMITS.compactionFilesMin);
    if (many) await this.createJob('compaction', tableId, { reason: `after flush ${job.jobId}` });
  }
}
