/**
 * Compaction and retention: both rewrite a scope's flushed files through `RewriteFiles`, a command of the scope's
 * shard that names the exact input files (refused when they changed since the plan) and carries explicit cutoff
 * timestamps chosen here, on the meta:jobs leader, from its clock — replicas never consult their own.
 *
 * - compaction (of one table): every scope with at least JOBS_LIMITS.compactionFilesMin files is merged into one
 *   file `c-<minSeq>-<maxSeq>.parquet` keeping the latest version of each key, without tombstones past the deleted
 *   rows' retention (and, for STREAM tables, rows past the TTL).
 * - retention (of one table, or of every table when the job names none): for each scope, STREAM rows older than
 *   now − TTL_SECONDS and soft-deleted rows older than now − retention are removed, hot and flushed; and finished
 *   jobs older than JOBS_LIMITS.jobHistoryMs leave system.jobs (PurgeJobs).
 * Both are idempotent (a re-run finds nothing more to drop or a file set that is already merged): orphans re-queue.
 */
import type { ColdFile, ColdStore } from '../cold/store.js';
import type { Cutoffs } from '../cold/retention.js';
import type { TableInfo } from '../catalog.js';
import type { HotAge } from '../state/data.js';
import { MetaSystem } from '../group-id.js';
import { pastCutoff, seqFloor } from '../cold/retention.js';

import { JOBS_LIMITS } from './limits.js';
import { forEachScope, proposeDataJob, refusalOf, tableOf, tablesOf } from './scopes.js';
import { JobFailed } from './steps.js';
import type { JobContext } from './steps.js';

/** The cutoffs of `t` at `nowMs`: what is older is dropped. */
export function cutoffsOf(
  t: TableInfo,
  nowMs: number,
  deletedRetentionMs: number,
): { expiredBeforeMs: number | null; deletedBeforeMs: number } {
  const ttl = t.schema.options.ttlSeconds;
  return {
    expiredBeforeMs: t.tableType === 'STREAM' && ttl !== undefined ? nowMs - ttl * 1000 : null,
    deletedBeforeMs: nowMs - deletedRetentionMs,
  };
}

function retentionOf(ctx: JobContext): number {
  const v = ctx.job.config['deleted_retention_ms'];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : JOBS_LIMITS.deletedRetentionMs;
}

/**
 * Whether retention has anything to remove in a scope, judged on this node's copy (the shard applies the command
 * with the same cutoffs whatever this says; skipping only saves a Raft entry per idle scope): hot rows or tombstones
 * older than the cutoffs, or flushed versions that are superseded or past them.
 */
function retentionDue(
  hot: HotAge | null,
  cold: ColdStore,
  t: TableInfo,
  scope: string,
  files: readonly ColdFile[],
  cut: Cutoffs,
): boolean {
  if (hot !== null && cut.expiredBeforeMs !== null && hot.minSeq < seqFloor(cut.expiredBeforeMs)) return true;
  if (hot?.minDeletedSeq != null && cut.deletedBeforeMs !== null && hot.minDeletedSeq < seqFloor(cut.deletedBeforeMs))
    return true;
  if (files.length === 0) return false;
  const latest = cold.versions(t, scope, t.schema.primaryKey);
  const stored = files.reduce((n, f) => n + f.rowCount, 0);
  return stored > latest.size || [...latest.values()].some((r) => pastCutoff(r, cut));
}

async function rewriteTable(ctx: JobContext, t: TableInfo, reason: 'compaction' | 'retention'): Promise<number> {
  const cut = cutoffsOf(t, ctx.now(), retentionOf(ctx));
  let removed = 0;
  await forEachScope(ctx, t, async (shard, scope) => {
    const files = ctx.machines.cold.filesOf(t, scope);
    if (reason === 'compaction' && files.length < JOBS_LIMITS.compactionFilesMin) return;
    if (
      reason === 'retention' &&
      !retentionDue(shard.hotAge(t.tableId, scope), ctx.machines.cold, t, scope, files, cut)
    )
      return;
    const minSeq = Math.min(...files.map((f) => f.minSeq));
    const maxSeq = Math.max(...files.map((f) => f.maxSeq));
    const at = ctx.now();
    const outputFile =
      reason === 'compaction' ? `c-${minSeq}-${maxSeq}.parquet` : `r-${files.length === 0 ? 0 : minSeq}-${at}.parquet`;
    const r = await proposeDataJob(ctx, t, scope, {
      type: 'RewriteFiles',
      reason,
      tableId: t.tableId,
      inputFiles: files.map((f) => f.fileName),
      outputFile,
      ...cut,
      at,
    });
    const refusal = refusalOf(r);
    if (refusal !== null) throw new JobFailed(`${reason} of ${t.tableId}: ${refusal.message}`);
    removed += r.type === 'RowsAffected' ? r.count : 0;
  });
  return removed;
}

export async function runCompaction(ctx: JobContext): Promise<string> {
  const t = await tableOf(ctx);
  const removed = await rewriteTable(ctx, t, 'compaction');
  return JSON.stringify({ table: t.tableId, dropped: removed });
}

export async function runRetention(ctx: JobContext): Promise<string> {
  let tables: TableInfo[];
  if (ctx.job.tableName !== null) {
    tables = [await tableOf(ctx)];
  } else {
    await ctx.step(() => ctx.executor.readBarrier(MetaSystem));
    tables = tablesOf(ctx);
  }
  let removed = 0;
  for (const t of tables) removed += await rewriteTable(ctx, t, 'retention');
  const purged = await ctx.step(() =>
    ctx.executor.executeJobs({ type: 'PurgeJobs', finishedBefore: ctx.now() - JOBS_LIMITS.jobHistoryMs }),
  );
  const jobsForgotten = purged.type === 'JobsPurged' ? purged.count : 0;
  return JSON.stringify({ tables: tables.length, removed, jobsForgotten });
}
