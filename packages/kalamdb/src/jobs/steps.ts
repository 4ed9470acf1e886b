/**
 * What a running job gets: the node's executor and state machines, the clock, and `step`, which runs one replicated
 * command of the job — but only while this node still leads meta:jobs and the job was not cancelled (KILL JOB), and
 * asks again when the target group has no leader yet. Every job is a sequence of such steps, so losing leadership or
 * a kill stops it between two commands, never inside one.
 */
import { MetaJobs } from '../group-id.js';
import type { CommandExecutor, StateMachines } from '../executor.js';
import { MultiRaftError } from '@kalam/multiraft';

import { JOBS_LIMITS } from './limits.js';

/** The job stopped because this node lost leadership of meta:jobs or the job was cancelled. */
export class JobAborted extends Error {
  override readonly name = 'JobAborted';
  readonly code = 'JOB_ABORTED';
}

/** A job's own failure (its table is gone, a step was refused): the job ends as failed with this message. */
export class JobFailed extends Error {
  override readonly name = 'JobFailed';
  readonly code = 'JOB_FAILED';
}

export interface JobRow {
  readonly jobId: string;
  readonly jobType: string;
  readonly namespaceId: string | null;
  readonly tableName: string | null;
  readonly config: Readonly<Record<string, unknown>>;
}

const TRANSIENT: ReadonlySet<string> = new Set(['NOT_LEADER', 'LEADER_NOT_AVAILABLE', 'READ_REJECTED', 'TIMEOUT']);

export class JobContext {
  constructor(
    readonly executor: CommandExecutor,
    readonly machines: StateMachines,
    readonly now: () => number,
    readonly job: JobRow,
    private readonly signal: AbortSignal,
    private readonly stepDelayMs: number,
    /** Waits `ms` on the node's clock (real timers in a node, the simulated clock in the simulator). */
    private readonly sleep: (ms: number) => Promise<void> = realSleep,
  ) {}

  /** Throws JobAborted when the job must stop now. */
  check(): void {
    if (this.signal.aborted || !this.executor.isLeader(MetaJobs)) {
      throw new JobAborted(`node ${this.executor.nodeId()} no longer leads meta:jobs`);
    }
    if (this.machines.jobs.job(this.job.jobId)?.['status'] === 'cancelled') {
      throw new JobAborted(`job ${this.job.jobId} was cancelled`);
    }
  }

  /** The test switch (manager.ts): a pause after each data command of a job, so a test can kill the leader mid-job. */
  async testPause(): Promise<void> {
    if (this.stepDelayMs > 0) await this.sleep(this.stepDelayMs);
  }

  /** Runs one command of the job (see the module comment); `fn` proposes it and returns its response. */
  async step<R>(fn: () => Promise<R>): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      this.check();
      try {
        return await fn();
      } catch (err) {
        const transient = err instanceof MultiRaftError && TRANSIENT.has(err.code);
        if (!transient || attempt >= JOBS_LIMITS.stepAttemptsMax) throw err;
        await this.sleep(JOBS_LIMITS.stepRetryMs);
      }
    }
  }
}

export function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
