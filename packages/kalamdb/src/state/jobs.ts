/**
 * meta:jobs: jobs and schedules. A job moves new → running (ClaimJob names the node) → completed | failed
 * | cancelled; ReleaseJob puts a claimed job back in the queue (its node lost leadership or died).
 */
import type { Statement } from 'better-sqlite3';
import type { JobsCommand, JobsResponse } from '../commands.js';
import type { DataStore } from '../store.js';
import { ApplyError, KalamStateMachine } from './base.js';
import type { StateMachineOptions } from './base.js';
import { checkJobsCommand } from '../validate.js';

const JOB_COLUMNS =
  'job_id, job_type, namespace_id, table_name, config_json, status, node_id, created_at, updated_at, claimed_at, completed_at, result, error_message';

export class JobsStateMachine extends KalamStateMachine<JobsCommand, JobsResponse> {
  private activeStmt: Statement | undefined;

  constructor(store: DataStore, options: StateMachineOptions = {}) {
    super(store, 2, options);
  }

  private status(jobId: string): string {
    const r = this.store
      .prepare<[string], { status: string }>('SELECT status FROM sys_jobs WHERE job_id = ?')
      .get(jobId);
    if (r === undefined) throw new ApplyError('NOT_FOUND', `job ${jobId} does not exist`);
    return r.status;
  }

  /**
   * Ends or moves a job that has not finished. With `claimer`, only the run of that node may do it: a node that lost
   * leadership mid-job and finishes late cannot complete a job another node has re-claimed since.
   */
  private finish(jobId: string, fields: string, args: (string | number | null)[], claimer?: number): void {
    const s = this.status(jobId);
    if (s === 'completed' || s === 'failed' || s === 'cancelled')
      throw new ApplyError('CONFLICT', `job ${jobId} already ${s}`);
    if (claimer !== undefined) {
      const owner = this.store
        .prepare<[string], { node_id: number | null }>('SELECT node_id FROM sys_jobs WHERE job_id = ?')
        .get(jobId)?.node_id;
      if (s !== 'running' || owner !== claimer) {
        throw new ApplyError('CONFLICT', `job ${jobId} is ${s} under node ${owner ?? 'none'}, not node ${claimer}`);
      }
    }
    this.store.prepare(`UPDATE sys_jobs SET ${fields} WHERE job_id = ?`).run(...args, jobId);
  }

  protected check(value: unknown): JobsCommand {
    return checkJobsCommand(value);
  }

  protected applyCommand(cmd: JobsCommand): JobsResponse {
    switch (cmd.type) {
      case 'CreateJob': {
        if (this.store.prepare('SELECT 1 FROM sys_jobs WHERE job_id = ?').get(cmd.jobId) !== undefined) {
          throw new ApplyError('ALREADY_EXISTS', `job ${cmd.jobId} already exists`);
        }
        this.store
          .prepare(
            `INSERT INTO sys_jobs (${JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'new', NULL, ?, ?, NULL, NULL, NULL, NULL)`,
          )
          .run(
            cmd.jobId,
            cmd.jobType,
            cmd.namespaceId,
            cmd.tableName,
            cmd.config === null ? null : JSON.stringify(cmd.config),
            cmd.createdAt,
            cmd.createdAt,
          );
        return { type: 'JobCreated', jobId: cmd.jobId };
      }
      case 'ClaimJob': {
        const s = this.status(cmd.jobId);
        if (s !== 'new' && s !== 'queued') throw new ApplyError('CONFLICT', `job ${cmd.jobId} is ${s}, not claimable`);
        this.store
          .prepare(
            "UPDATE sys_jobs SET status = 'running', node_id = ?, claimed_at = ?, updated_at = ? WHERE job_id = ?",
          )
          .run(cmd.nodeId, cmd.claimedAt, cmd.claimedAt, cmd.jobId);
        return { type: 'JobClaimed', jobId: cmd.jobId, nodeId: cmd.nodeId };
      }
      case 'UpdateJobStatus':
        this.finish(cmd.jobId, 'status = ?, updated_at = ?', [cmd.status, cmd.updatedAt]);
        return { type: 'Ok' };
      case 'CompleteJob':
        this.finish(
          cmd.jobId,
          "status = 'completed', result = ?, completed_at = ?, updated_at = ?",
          [cmd.result, cmd.completedAt, cmd.completedAt],
          cmd.nodeId,
        );
        return { type: 'Ok' };
      case 'FailJob':
        this.finish(
          cmd.jobId,
          "status = 'failed', error_message = ?, completed_at = ?, updated_at = ?",
          [cmd.errorMessage, cmd.failedAt, cmd.failedAt],
          cmd.nodeId,
        );
        return { type: 'Ok' };
      case 'ReleaseJob':
        this.finish(cmd.jobId, "status = 'queued', node_id = NULL, error_message = ?, updated_at = ?", [
          cmd.reason,
          cmd.releasedAt,
        ]);
        return { type: 'Ok' };
      case 'CancelJob':
        this.finish(cmd.jobId, "status = 'cancelled', error_message = ?, completed_at = ?, updated_at = ?", [
          cmd.reason,
          cmd.cancelledAt,
          cmd.cancelledAt,
        ]);
        return { type: 'Ok' };
      case 'CreateSchedule': {
        if (this.store.prepare('SELECT 1 FROM sys_schedules WHERE schedule_id = ?').get(cmd.scheduleId) !== undefined) {
          throw new ApplyError('ALREADY_EXISTS', `schedule ${cmd.scheduleId} already exists`);
        }
        this.store
          .prepare(
            'INSERT INTO sys_schedules (schedule_id, job_type, cron_expression, config_json, created_at) VALUES (?, ?, ?, ?, ?)',
          )
          .run(
            cmd.scheduleId,
            cmd.jobType,
            cmd.cronExpression,
            cmd.config === null ? null : JSON.stringify(cmd.config),
            cmd.createdAt,
          );
        return { type: 'Ok' };
      }
      case 'PurgeJobs': {
        const r = this.store
          .prepare("DELETE FROM sys_jobs WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at < ?")
          .run(cmd.finishedBefore);
        return { type: 'JobsPurged', count: r.changes };
      }
      case 'DeleteSchedule': {
        const r = this.store.prepare('DELETE FROM sys_schedules WHERE schedule_id = ?').run(cmd.scheduleId);
        if (r.changes === 0) throw new ApplyError('NOT_FOUND', `schedule ${cmd.scheduleId} does not exist`);
        return { type: 'Ok' };
      }
    }
  }

  jobs(): Record<string, unknown>[] {
    return this.store.prepare(`SELECT ${JOB_COLUMNS} FROM sys_jobs ORDER BY created_at, job_id`).all() as Record<
      string,
      unknown
    >[];
  }

  /**
   * The jobs still to finish (new, queued, running) in creation order: what the job manager looks at on every
   * poll, so it stays cheap however long the finished history grows.
   */
  activeJobs(): Record<string, unknown>[] {
    this.activeStmt ??= this.store.prepare(
      `SELECT ${JOB_COLUMNS} FROM sys_jobs WHERE status IN ('new', 'queued', 'running') ORDER BY created_at, job_id`,
    );
    return this.activeStmt.all() as Record<string, unknown>[];
  }

  /** How many jobs there are of each type in each status (system.jobs grouped): what a node's metrics report. */
  countsByTypeAndStatus(): { jobType: string; status: string; count: number }[] {
    return this.store
      .prepare<[], { jobType: string; status: string; count: number }>(
        'SELECT job_type AS jobType, status, COUNT(*) AS count FROM sys_jobs GROUP BY job_type, status',
      )
      .all();
  }

  /** One job's row, or undefined. */
  job(jobId: string): Record<string, unknown> | undefined {
    return this.store.prepare(`SELECT ${JOB_COLUMNS} FROM sys_jobs WHERE job_id = ?`).get(jobId) as
      Record<string, unknown> | undefined;
  }

  /** Every schedule, by id. */
  schedules(): {
    scheduleId: string;
    jobType: string;
    cronExpression: string;
    config: string | null;
    createdAt: number;
  }[] {
    return this.store
      .prepare<
        [],
        { scheduleId: string; jobType: string; cronExpression: string; config: string | null; createdAt: number }
      >(
        'SELECT schedule_id AS scheduleId, job_type AS jobType, cron_expression AS cronExpression, config_json AS config, created_at AS createdAt FROM sys_schedules ORDER BY schedule_id',
      )
      .all();
  }

  protected exportState(): unknown {
    return {
      jobs: this.store.prepare(`SELECT ${JOB_COLUMNS} FROM sys_jobs ORDER BY job_id`).all(),
      schedules: this.store
        .prepare(
          'SELECT schedule_id, job_type, cron_expression, config_json, created_at FROM sys_schedules ORDER BY schedule_id',
        )
        .all(),
    };
  }

  protected importState(state: unknown): void {
    const s = state as { jobs: Record<string, unknown>[]; schedules: Record<string, unknown>[] };
    const db = this.store.db;
    db.exec('DELETE FROM sys_jobs; DELETE FROM sys_schedules;');
    for (const [table, rows] of [
      ['sys_jobs', s.jobs],
      ['sys_schedules', s.schedules],
    ] as const) {
      for (const r of rows) {
        const names = Object.keys(r);
        this.store
          .prepare(`INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`)
          .run(...names.map((n) => r[n] as string | number | null));
      }
    }
  }
}
