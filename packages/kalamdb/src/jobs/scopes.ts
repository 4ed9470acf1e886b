/**
 * What the table jobs share: the job's table (after a meta:system read barrier), a walk over the scopes of that table
 * in every shard that holds it (after a read barrier on each shard), and proposing a data job command to the shard
 * of a scope.
 */
import { dataSharedShard, dataUserShard, MetaSystem } from '../group-id.js';
import { isRefusal } from '../commands.js';
import type { DataJobCommand, DataResponse } from '../commands.js';
import type { GroupId } from '../group-id.js';
import type { HotAge, HotStats } from '../state/data.js';
import type { TableInfo } from '../catalog.js';

import { JobFailed } from './steps.js';
import type { JobContext } from './steps.js';

/** What a job reads of one shard's scopes (state/data.ts): index seeks, fresh after a read barrier on the shard. */
export interface ShardJobReads {
  hotAge(tableId: string, scope: string): HotAge | null;
  hotStats(tableId: string, scope: string): HotStats | null;
}

export function isPerUser(t: TableInfo): boolean {
  return t.tableType !== 'SHARED';
}

/** The job's table, or JobFailed when it names none or the table is gone. */
export async function tableOf(ctx: JobContext): Promise<TableInfo> {
  const { namespaceId, tableName } = ctx.job;
  if (namespaceId === null || tableName === null) throw new JobFailed(`job ${ctx.job.jobId} names no table`);
  await ctx.step(() => ctx.executor.readBarrier(MetaSystem));
  const t = tablesOf(ctx).find((x) => x.tableId === `${namespaceId}.${tableName}`);
  if (t === undefined) throw new JobFailed(`table ${namespaceId}.${tableName} does not exist`);
  return t;
}

/** Every table of this node's catalog (read after a meta:system barrier). */
export function tablesOf(ctx: JobContext): TableInfo[] {
  return ctx.machines.system.tables().map((t) => ({
    tableId: t.tableId,
    incarnation: t.incarnation,
    tableType: t.tableType,
    schema: t.schema,
    version: t.version,
  }));
}

export function groupOfScope(ctx: JobContext, t: TableInfo, scope: string): GroupId {
  return isPerUser(t) ? dataUserShard(ctx.machines.router.userShard(scope)) : dataSharedShard(0);
}

/**
 * Calls `fn(shard, scope)` for each scope of the table (jobScopes: every scope with hot rows or flushed files), shard
 * by shard, after a read barrier on the shard; `fn` reads what it needs of its own scope from `shard` — a few index
 * seeks — when it needs it (again after a step changed it), never the whole shard's view per scope.
 */
export async function forEachScope(
  ctx: JobContext,
  t: TableInfo,
  fn: (shard: ShardJobReads, scope: string) => Promise<void>,
): Promise<void> {
  const groups = isPerUser(t) ? ctx.machines.userShards.map((s) => dataUserShard(s.shard)) : [dataSharedShard(0)];
  for (const group of groups) {
    await ctx.step(() => ctx.executor.readBarrier(group));
    const sm = group.kind === 'data:user' ? ctx.machines.userShards[group.shard] : ctx.machines.sharedShards[0];
    for (const scope of sm?.jobScopes(t.tableId) ?? []) await fn(sm!, scope);
  }
}

/** Proposes a data job command to the scope's shard, stamped with this node's meta:system index. */
export async function proposeDataJob(
  ctx: JobContext,
  t: TableInfo,
  scope: string,
  cmd: DataJobCommand,
): Promise<DataResponse> {
  // Every replica writes the files this command makes when it applies it, and a replica that cannot stops (its
  // own disk failed). A folder that is unusable here is most likely unusable everywhere (a storage PATH with a
  // file in the way): the job fails with what the disk said instead of proposing a command that stops every node.
  const unusable = ctx.machines.cold.probeTable(t);
  if (unusable !== undefined) {
    throw new JobFailed(`${cmd.type} of ${t.tableId}: node ${ctx.executor.nodeId()} cannot write files at ${unusable}`);
  }
  const stamp = { metaIndex: ctx.machines.system.appliedIndex(), incarnation: t.incarnation };
  const r = await ctx.step(() =>
    isPerUser(t)
      ? ctx.executor.executeUserData(scope, { ...cmd, userId: scope, ...stamp })
      : ctx.executor.executeSharedData({ ...cmd, ...stamp }),
  );
  await ctx.testPause();
  return r;
}

/** The refusal in a state machine's response, or null when it was accepted. */
export function refusalOf(r: { readonly type: string }): { code: string; message: string } | null {
  return isRefusal(r) ? { code: r.code, message: r.message } : null;
}
