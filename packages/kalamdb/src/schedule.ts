/**
 * Cron schedules of meta:jobs: `CreateSchedule{scheduleId, jobType, cronExpression, config}` rows fire jobs on the
 * meta:jobs leader (packages/server, jobs/manager.ts) at due times computed with croner, always in UTC. Expressions
 * have 5 fields (minute first, seconds 0), 6 (seconds first) or 7 (seconds … year), or are a nickname such as
 * `@daily`. A firing creates the job `<scheduleId>@<due ms>` (or `<scheduleId>@<due ms>:<ns.table>` when a
 * schedule fans out over several tables): the id is a function of the due time, so two leaders (one that just lost
 * leadership, one that just won it) firing the same due time create one job — meta:jobs refuses the second CreateJob.
 * The SQL planner (sql/schedules.ts) validates expressions with `checkCron` and shows `nextDue`; a schedule's last
 * firing is read back from its job ids with `dueOfScheduledJob`.
 */
import { Cron } from 'croner';

export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
  readonly code = 'INVALID_SCHEDULE';
}

/** The schedule every meta:jobs leader makes sure exists (retention of every table); SQL cannot create or drop it. */
export const DEFAULT_RETENTION_SCHEDULE_ID = 'retention';

/** Throws ScheduleError when croner cannot read the expression. */
export function checkCron(expression: string): void {
  try {
    new Cron(expression, { timezone: 'UTC', paused: true }).stop();
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new ScheduleError(`bad cron expression ${JSON.stringify(expression)}: ${why}`, { cause });
  }
}

/** The first due time (ms) strictly after `afterMs`, or null when the expression never fires again. */
export function nextDue(expression: string, afterMs: number): number | null {
  const cron = new Cron(expression, { timezone: 'UTC', paused: true });
  const next = cron.nextRun(new Date(afterMs));
  cron.stop();
  return next === null ? null : next.getTime();
}

/** The next `count` due times (ms) strictly after `afterMs`; fewer when the expression stops firing. */
export function nextDues(expression: string, afterMs: number, count: number): number[] {
  const cron = new Cron(expression, { timezone: 'UTC', paused: true });
  const runs = cron.nextRuns(count, new Date(afterMs)).map((d) => d.getTime());
  cron.stop();
  return runs;
}

/**
 * The latest due time in (sinceMs, nowMs], or null: what a leader fires now. Only the latest one: a leader that
 * comes back after a long gap runs the job once, not once per missed minute.
 */
export function dueBetween(expression: string, sinceMs: number, nowMs: number): number | null {
  let due: number | null = null;
  let at = sinceMs;
  for (let i = 0; i < 10_000; i++) {
    const next = nextDue(expression, at);
    if (next === null || next > nowMs) return due;
    due = next;
    at = next;
  }
  return due;
}

/** The id of the job a schedule fires at `dueMs`; `tableId` when the schedule fans out over tables. */
export function scheduledJobId(scheduleId: string, dueMs: number, tableId?: string): string {
  return tableId === undefined ? `${scheduleId}@${dueMs}` : `${scheduleId}@${dueMs}:${tableId}`;
}

/** The due time of a job fired by `scheduleId` (see `scheduledJobId`), or null for any other job. */
export function dueOfScheduledJob(scheduleId: string, jobId: string): number | null {
  if (!jobId.startsWith(`${scheduleId}@`)) return null;
  const m = /^(\d+)(?::.+)?$/.exec(jobId.slice(scheduleId.length + 1));
  return m === null ? null : Number(m[1]);
}
