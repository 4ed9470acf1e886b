/**
 * Schedules: `CreateSchedule{scheduleId, jobType, cronExpression}` rows of meta:jobs fire jobs on the leader at due
 * times, computed with croner (6-field expressions, seconds first, UTC). A firing creates the job
 * `<scheduleId>@<due ms>`: the id is a function of the due time, so two leaders (one that just lost leadership, one
 * that just won it) firing the same due time create one job — meta:jobs refuses the second CreateJob.
 */
import { Cron } from 'croner';

export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
  readonly code = 'INVALID_SCHEDULE';
}

/** Throws ScheduleError when croner cannot read the expression. */
export function checkCron(expression: string): void {
  try {
    new Cron(expression, { timezone: 'UTC', paused: true }).stop();
  } catch (cause) {
    throw new ScheduleError(`bad cron expression ${JSON.stringify(expression)}: ${String(cause)}`, { cause });
  }
}

/** The first due time (ms) strictly after `afterMs`, or null when the expression never fires again. */
export function nextDue(expression: string, afterMs: number): number | null {
  const cron = new Cron(expression, { timezone: 'UTC', paused: true });
  const next = cron.nextRun(new Date(afterMs));
  cron.stop();
  return next === null ? null : next.getTime();
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

export function scheduledJobId(scheduleId: string, dueMs: number): string {
  return `${scheduleId}@${dueMs}`;
}
