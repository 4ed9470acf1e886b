/**
 * TEST ONLY: the switches that plant a bug or shorten a schedule in a real node process, so that a test or a drill
 * can prove its checks fail on a node that misbehaves. They are read from the environment in one place, here, by
 * `serve` (the process entry: a spawned node has no other input than its argv and environment), and only with
 * KALAM_ALLOW_PLANTED_BUGS=1; everything below `serve` takes them as options and never reads the environment.
 *
 * - KALAM_PLANTED_BUG=unchecked-commands: commands are proposed and applied unchecked, and apply stops the node on
 *   anything but a refusal, as Kalam did before it checked commands (StateMachinesOptions.uncheckedCommands);
 *   server/test/poison.test.ts writes logs with it.
 * - KALAM_PLANTED_BUG=ack-without-commit: every 4th UPDATE of a drill table (`UPDATE drill.…`) is answered
 *   "1 row(s) updated" without being proposed (cli/test/drill-real.test.ts, server/test/planted-bug.test.ts).
 * - KALAM_PLANTED_BUG=ignore-client-sessions: the data groups apply a row write without looking at its client
 *   session, so a write retried through another node applies twice (StateMachinesOptions.ignoreClientSessions;
 *   server/test/sessions-cluster.test.ts).
 * - KALAM_JOBS_TEST_STEP_DELAY_MS=N pauses N ms after every data command of a job, so that a test can kill the
 *   leader mid-job; KALAM_JOBS_TEST_RETENTION_CRON and KALAM_JOBS_TEST_DELETED_RETENTION_MS replace the default
 *   retention schedule's cron expression and soft-delete retention, so that a test sees retention within seconds.
 */
import { checkCron, JOBS_LIMITS } from '@kalam/kalamdb';
import type { TestSwitches } from '@kalam/kalamdb';

export type Env = Readonly<Record<string, string | undefined>>;

export interface NodeTestSwitches {
  readonly uncheckedCommands: boolean;
  readonly ackWithoutCommit: boolean;
  readonly ignoreClientSessions: boolean;
  readonly jobs: TestSwitches;
}

export const NO_JOB_SWITCHES: TestSwitches = { stepDelayMs: 0, retentionCron: null, deletedRetentionMs: null };

export const NO_TEST_SWITCHES: NodeTestSwitches = {
  uncheckedCommands: false,
  ackWithoutCommit: false,
  ignoreClientSessions: false,
  jobs: NO_JOB_SWITCHES,
};

/** The switches of the module comment; all off without KALAM_ALLOW_PLANTED_BUGS=1. */
export function testSwitchesFromEnv(env: Env): NodeTestSwitches {
  if (env['KALAM_ALLOW_PLANTED_BUGS'] !== '1') return NO_TEST_SWITCHES;
  const bug = env['KALAM_PLANTED_BUG'];
  return {
    uncheckedCommands: bug === 'unchecked-commands',
    ackWithoutCommit: bug === 'ack-without-commit',
    ignoreClientSessions: bug === 'ignore-client-sessions',
    jobs: jobSwitchesFromEnv(env),
  };
}

function jobSwitchesFromEnv(env: Env): TestSwitches {
  const ms = Number(env['KALAM_JOBS_TEST_STEP_DELAY_MS'] ?? '0');
  const cron = env['KALAM_JOBS_TEST_RETENTION_CRON'];
  const deleted = Number(env['KALAM_JOBS_TEST_DELETED_RETENTION_MS'] ?? 'NaN');
  if (cron !== undefined) checkCron(cron);
  return {
    stepDelayMs: Number.isInteger(ms) && ms > 0 ? Math.min(ms, JOBS_LIMITS.testStepDelayMsMax) : 0,
    retentionCron: cron ?? null,
    deletedRetentionMs: Number.isInteger(deleted) && deleted >= 0 ? deleted : null,
  };
}
