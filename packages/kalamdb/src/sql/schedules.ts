/**
 * Schedules in SQL: the cron schedules of meta:jobs (../schedule.ts), which the job manager of the meta:jobs leader
 * fires, exactly once per due time cluster-wide. dba and system only. Syntax:
 *
 *   CREATE SCHEDULE [IF NOT EXISTS] name CRON 'expression' job
 *     job: FLUSH TABLE [ns.]t          a flush job of the table (job type flush)
 *        | FLUSH ALL TABLES [IN ns]    one flush job per table (of ns) that exists when the schedule fires
 *        | COMPACT TABLE [ns.]t        a compaction job of the table
 *        | RETENTION [TABLE [ns.]t]    a retention job of the table, or of every table
 *   DROP SCHEDULE [IF EXISTS] name
 *   SHOW SCHEDULES                     the rows of system.schedules
 *
 * The name is a string or an identifier of [A-Za-z0-9_-] (at most SQL_ENGINE_LIMITS.scheduleNameCharsMax
 * characters); `retention` is the built-in schedule every leader keeps and cannot be created or dropped. The
 * expression is croner's, in UTC: 5 fields (minute hour day-of-month month day-of-week), 6 (seconds first), 7 (… year)
 * or a nickname such as '@daily'. It is checked here: one INVALID_INPUT naming it when croner cannot read it, when it
 * never fires again, or when it fires more often than once per SQL_ENGINE_LIMITS.scheduleGapMsMin. A named table
 * (resolved in the default namespace when unqualified) or namespace must exist now; a table dropped later makes the
 * schedule's jobs fail with `table … does not exist` until the schedule is dropped. DROP SCHEDULE stops future
 * firings; a job already created by the schedule still runs (KILL JOB cancels it).
 *
 * Example:
 *   CREATE SCHEDULE 'nightly_flush' CRON '0 3 * * *' FLUSH TABLE app.notes
 *   → Schedule nightly_flush created: FLUSH TABLE app.notes at '0 3 * * *' (UTC), next run 2026-11-27T03:00:00.000Z
 *
 * system.schedules: schedule_id, job_type, cron, target (`ns.t`, `ns.*` or `*`), config (the job config, JSON),
 * created_at, next_run_at (from croner, after now), last_fired_at (the latest due time of a job of the schedule still
 * in system.jobs, or NULL).
 */
import type { CreateSchedule, DropSchedule, ScheduledJob, Select } from '@kalam/sql';
import type { Role, Value } from '../commands.js';
import { MetaJobs, MetaSystem } from '../group-id.js';
import {
  DEFAULT_RETENTION_SCHEDULE_ID,
  ScheduleError,
  checkCron,
  dueOfScheduledJob,
  nextDue,
  nextDues,
} from '../schedule.js';
import {
  accepted,
  lookupTable,
  messageResult,
  refusalCode,
  requireRole,
  resolveTableId,
  type EngineContext,
  type StatementScope,
} from './context.js';
import { KalamError } from './errors.js';
import { SQL_ENGINE_LIMITS } from './limits.js';
import { runSelect, type RelationColumn } from './query.js';
import type { QueryResult } from './types.js';

const NAME = /^[A-Za-z0-9_-]+$/;

/** The columns of system.schedules (and of SHOW SCHEDULES). */
export const SCHEDULE_COLUMNS: readonly RelationColumn[] = [
  { name: 'schedule_id', type: 'TEXT' },
  { name: 'job_type', type: 'TEXT' },
  { name: 'cron', type: 'TEXT' },
  { name: 'target', type: 'TEXT' },
  { name: 'config', type: 'JSON' },
  { name: 'created_at', type: 'TIMESTAMP' },
  { name: 'next_run_at', type: 'TIMESTAMP' },
  { name: 'last_fired_at', type: 'TIMESTAMP' },
];

/** Who may read system.schedules. */
export const SCHEDULES_MIN_ROLE: Role = 'dba';

function checkName(name: string): void {
  if (name.length > SQL_ENGINE_LIMITS.scheduleNameCharsMax || !NAME.test(name)) {
    throw new KalamError(
      'INVALID_INPUT',
      `schedule name ${JSON.stringify(name)} must be 1 to ${SQL_ENGINE_LIMITS.scheduleNameCharsMax} characters of A-Z, a-z, 0-9, _ and -`,
    );
  }
  if (name === DEFAULT_RETENTION_SCHEDULE_ID) {
    throw new KalamError('INVALID_INPUT', `schedule ${name} is the built-in retention schedule`);
  }
}

/** The next due time after `nowMs`; INVALID_INPUT naming the expression when it is unreadable, spent or too dense. */
function checkExpression(cron: string, nowMs: number): number {
  try {
    checkCron(cron);
  } catch (err) {
    if (err instanceof ScheduleError) throw new KalamError('INVALID_INPUT', err.message, null, { cause: err });
    throw err;
  }
  const dues = nextDues(cron, nowMs, SQL_ENGINE_LIMITS.scheduleGapSamples);
  const first = dues[0];
  if (first === undefined) {
    throw new KalamError('INVALID_INPUT', `cron expression ${JSON.stringify(cron)} never fires after now`);
  }
  for (let i = 1; i < dues.length; i++) {
    if (dues[i]! - dues[i - 1]! < SQL_ENGINE_LIMITS.scheduleGapMsMin) {
      throw new KalamError(
        'INVALID_INPUT',
        `cron expression ${JSON.stringify(cron)} fires more often than once every ${SQL_ENGINE_LIMITS.scheduleGapMsMin / 1000} s`,
      );
    }
  }
  return first;
}

interface Planned {
  readonly jobType: 'flush' | 'compaction' | 'retention';
  readonly config: Readonly<Record<string, Value>> | null;
  readonly text: string;
}

/** The job type and config of a scheduled job, after checking that its table or namespace exists. */
async function planJob(ctx: EngineContext, scope: StatementScope, job: ScheduledJob): Promise<Planned> {
  switch (job.kind) {
    case 'FlushTable': {
      const t = await lookupTable(ctx, resolveTableId(job.table, scope));
      return { jobType: 'flush', config: { table: t.tableId }, text: `FLUSH TABLE ${t.tableId}` };
    }
    case 'FlushAllTables': {
      const ns = job.namespace;
      if (ns === null) return { jobType: 'flush', config: null, text: 'FLUSH ALL TABLES' };
      await ctx.executor.readBarrier(MetaSystem);
      if (!ctx.machines.system.namespaces().some((n) => n.namespaceId === ns)) {
        throw new KalamError('NAMESPACE_NOT_FOUND', `namespace ${ns} does not exist`);
      }
      return { jobType: 'flush', config: { namespace: ns }, text: `FLUSH ALL TABLES IN ${ns}` };
    }
    case 'CompactTable': {
      const t = await lookupTable(ctx, resolveTableId(job.table, scope));
      return { jobType: 'compaction', config: { table: t.tableId }, text: `COMPACT TABLE ${t.tableId}` };
    }
    case 'Retention': {
      if (job.table === null) return { jobType: 'retention', config: null, text: 'RETENTION' };
      const t = await lookupTable(ctx, resolveTableId(job.table, scope));
      return { jobType: 'retention', config: { table: t.tableId }, text: `RETENTION TABLE ${t.tableId}` };
    }
  }
}

function exists(ctx: EngineContext, name: string): boolean {
  return ctx.machines.jobs.schedules().some((s) => s.scheduleId === name);
}

export async function createSchedule(
  ctx: EngineContext,
  scope: StatementScope,
  s: CreateSchedule,
): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'CREATE SCHEDULE');
  checkName(s.name);
  const now = ctx.now();
  const next = checkExpression(s.cron, now);
  const job = await planJob(ctx, scope, s.job);
  await ctx.executor.readBarrier(MetaJobs);
  const already = `Schedule ${s.name} already exists`;
  if (exists(ctx, s.name)) {
    if (s.ifNotExists) return messageResult(already);
    throw new KalamError('ALREADY_EXISTS', `schedule ${s.name} already exists`);
  }
  const r = await ctx.executor.executeJobs({
    type: 'CreateSchedule',
    scheduleId: s.name,
    jobType: job.jobType,
    cronExpression: s.cron,
    config: job.config,
    createdAt: now,
  });
  if (s.ifNotExists && refusalCode(r) === 'ALREADY_EXISTS') return messageResult(already);
  accepted(r);
  return messageResult(
    `Schedule ${s.name} created: ${job.text} at '${s.cron}' (UTC), next run ${new Date(next).toISOString()}`,
  );
}

export async function dropSchedule(ctx: EngineContext, scope: StatementScope, s: DropSchedule): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'DROP SCHEDULE');
  if (s.name === DEFAULT_RETENTION_SCHEDULE_ID) {
    throw new KalamError(
      'INVALID_INPUT',
      `schedule ${s.name} is the built-in retention schedule and cannot be dropped`,
    );
  }
  await ctx.executor.readBarrier(MetaJobs);
  const missing = `schedule ${s.name} does not exist`;
  if (!exists(ctx, s.name)) {
    if (s.ifExists) return messageResult(`Schedule ${s.name} does not exist`);
    throw new KalamError('SQL_EXECUTION_ERROR', missing);
  }
  const r = await ctx.executor.executeJobs({ type: 'DeleteSchedule', scheduleId: s.name });
  if (s.ifExists && refusalCode(r) === 'NOT_FOUND') return messageResult(`Schedule ${s.name} does not exist`);
  accepted(r);
  return messageResult(`Schedule ${s.name} dropped`);
}

/** `ns.t`, `ns.*` or `*`: what a schedule's jobs work on, from its config. */
function targetOf(config: Readonly<Record<string, unknown>> | null): string {
  if (typeof config?.['table'] === 'string') return config['table'];
  if (typeof config?.['namespace'] === 'string') return `${config['namespace']}.*`;
  return '*';
}

function nextRunOf(cron: string, afterMs: number): number | null {
  try {
    return nextDue(cron, afterMs);
  } catch {
    return null; // only a schedule written around the SQL checks can get here; the manager logs it as bad
  }
}

/** The rows of system.schedules, after a meta:jobs read barrier. */
export async function scheduleRows(ctx: EngineContext): Promise<Record<string, Value>[]> {
  await ctx.executor.readBarrier(MetaJobs);
  const schedules = ctx.machines.jobs.schedules();
  const jobIds = ctx.machines.jobs.jobs().map((j) => String(j['job_id']));
  const now = ctx.now();
  return schedules.map((s) => {
    const config = s.config === null ? null : (JSON.parse(s.config) as Record<string, unknown>);
    let last: number | null = null;
    for (const id of jobIds) {
      const due = dueOfScheduledJob(s.scheduleId, id);
      // Due times at or before created_at belong to an earlier schedule of the same name.
      if (due !== null && due > s.createdAt && (last === null || due > last)) last = due;
    }
    return {
      schedule_id: s.scheduleId,
      job_type: s.jobType,
      cron: s.cronExpression,
      target: targetOf(config),
      config: s.config,
      created_at: s.createdAt,
      next_run_at: nextRunOf(s.cronExpression, Math.max(now, s.createdAt)),
      last_fired_at: last,
    };
  });
}

const SELECT_ALL: Select = {
  kind: 'Select',
  columns: ['*'],
  from: { namespace: 'system', name: 'schedules' },
  where: null,
  groupBy: [],
  having: null,
  orderBy: [],
  limit: null,
  offset: null,
};

export async function showSchedules(ctx: EngineContext, scope: StatementScope): Promise<QueryResult> {
  requireRole(scope.session, SCHEDULES_MIN_ROLE, 'SHOW SCHEDULES');
  const rows = await scheduleRows(ctx);
  return runSelect(SELECT_ALL, { name: 'system.schedules', columns: SCHEDULE_COLUMNS, hidden: [], rows }, ctx.budget());
}
