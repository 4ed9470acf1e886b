/**
 * The flush job: moves a table's hot rows into Parquet files. For each scope with hot rows (a user of a USER/STREAM
 * table in its user shard, or the SHARED table in the shared shard) it reads the scope's hot `_seq` range after a
 * read barrier and proposes `FlushRows{fileName: f-<minSeq>-<maxSeq>.parquet, rowCount, minSeq, maxSeq}` to the
 * shard: every replica applies it by writing that file from its own identical hot rows and deleting them. A write
 * that raced the plan makes the count disagree and the shard refuses (CONFLICT): the scope is planned again.
 * Re-running a flush is harmless — what was flushed is no longer hot — so an orphaned flush is re-queued.
 */
import { JOBS_LIMITS } from './limits.js';
import { forEachScope, groupOfScope, proposeDataJob, refusalOf, tableOf } from './scopes.js';
import { JobFailed } from './steps.js';
import type { JobContext } from './steps.js';

export async function runFlush(ctx: JobContext): Promise<string> {
  const t = await tableOf(ctx);
  let files = 0;
  let rows = 0;
  await forEachScope(ctx, t, async (shard, scope) => {
    for (let plan = 1; ; plan++) {
      const hot = shard.hotStats(t.tableId, scope);
      if (hot === null) return;
      const r = await proposeDataJob(ctx, t, scope, {
        type: 'FlushRows',
        tableId: t.tableId,
        fileName: `f-${hot.minSeq}-${hot.maxSeq}.parquet`,
        rowCount: hot.rows,
        minSeq: hot.minSeq,
        maxSeq: hot.maxSeq,
        at: ctx.now(),
      });
      const refusal = refusalOf(r);
      if (refusal === null) {
        files++;
        rows += r.type === 'RowsAffected' ? r.count : 0;
        return;
      }
      const raced = refusal.code === 'CONFLICT' || refusal.code === 'ALREADY_EXISTS';
      if (!raced || plan >= JOBS_LIMITS.flushReplansMax) {
        throw new JobFailed(`flush of ${t.tableId}${scope === '' ? '' : ` (user ${scope})`}: ${refusal.message}`);
      }
      await ctx.step(() => ctx.executor.readBarrier(groupOfScope(ctx, t, scope)));
    }
  });
  return JSON.stringify({ table: t.tableId, files, rows });
}
