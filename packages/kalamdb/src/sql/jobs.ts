/**
 * Job statements: `FLUSH TABLE ns.t` and `FLUSH ALL TABLES [IN ns]` create flush jobs in meta:jobs (one per table)
 * and return their ids, as KalamDB does; `KILL JOB 'id'` cancels a job that has not finished (a running job stops
 * at its next step). The job manager of the meta:jobs leader (packages/server, jobs/) runs them. dba and system only.
 */
import type { FlushAllTables, FlushTable, KillJob } from '@kalam/sql';
import type { TableInfo } from '../catalog.js';
import { MetaJobs, MetaSystem } from '../group-id.js';
import { splitTableId } from '../tables.js';
import {
  accepted,
  lookupTable,
  requireRole,
  resolveTableId,
  type EngineContext,
  type StatementScope,
} from './context.js';
import { KalamError } from './errors.js';
import type { QueryResult } from './types.js';

/** Job id prefixes by type (KalamDB shows short typed ids such as FL-…). */
export const JOB_ID_PREFIX: Readonly<Record<string, string>> = { flush: 'FL', compaction: 'CO', retention: 'RE' };

/** A fresh job id of `jobType`, unique cluster-wide (a `_seq`-style value carries the node id). */
export function newJobId(ctx: EngineContext, jobType: string): string {
  return `${JOB_ID_PREFIX[jobType] ?? 'JB'}-${ctx.seq.reserve(1).toString(36)}`;
}

async function createFlushJob(ctx: EngineContext, t: TableInfo): Promise<string> {
  const jobId = newJobId(ctx, 'flush');
  const [ns, table] = splitTableId(t.tableId);
  accepted(
    await ctx.executor.executeJobs({
      type: 'CreateJob',
      jobId,
      jobType: 'flush',
      namespaceId: ns,
      tableName: table,
      config: null,
      createdAt: ctx.now(),
    }),
  );
  return jobId;
}

function jobsResult(rows: [string, string][], message: string): QueryResult {
  return {
    schema: [
      { name: 'job_id', data_type: 'Text', index: 0 },
      { name: 'table_id', data_type: 'Text', index: 1 },
    ],
    rows,
    row_count: rows.length,
    message,
  };
}

export async function flushTable(ctx: EngineContext, scope: StatementScope, s: FlushTable): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'FLUSH TABLE');
  const t = await lookupTable(ctx, resolveTableId(s.table, scope));
  const jobId = await createFlushJob(ctx, t);
  return jobsResult([[jobId, t.tableId]], `Flush started for table ${t.tableId}. Job ID: ${jobId}`);
}

export async function flushAllTables(
  ctx: EngineContext,
  scope: StatementScope,
  s: FlushAllTables,
): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'FLUSH ALL TABLES');
  await ctx.executor.readBarrier(MetaSystem);
  const ns = s.namespace;
  if (ns !== null && !ctx.machines.system.namespaces().some((n) => n.namespaceId === ns)) {
    throw new KalamError('NAMESPACE_NOT_FOUND', `namespace ${ns} does not exist`);
  }
  const rows: [string, string][] = [];
  for (const t of ctx.catalog.tables().filter((x) => ns === null || splitTableId(x.tableId)[0] === ns)) {
    rows.push([await createFlushJob(ctx, t), t.tableId]);
  }
  return jobsResult(rows, `Flush started for ${rows.length} table(s). Job IDs: ${rows.map((r) => r[0]).join(', ')}`);
}

export async function killJob(ctx: EngineContext, scope: StatementScope, s: KillJob): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'KILL JOB');
  await ctx.executor.readBarrier(MetaJobs);
  const job = ctx.machines.jobs.jobs().find((j) => j['job_id'] === s.jobId);
  if (job === undefined) throw new KalamError('SQL_EXECUTION_ERROR', `job ${s.jobId} does not exist`);
  accepted(
    await ctx.executor.executeJobs({
      type: 'CancelJob',
      jobId: s.jobId,
      reason: `killed by ${scope.session.username}`,
      cancelledAt: ctx.now(),
    }),
  );
  return { schema: [], rows: [], row_count: 0, message: `Job ${s.jobId} cancelled` };
}
