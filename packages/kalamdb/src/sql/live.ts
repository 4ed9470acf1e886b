/**
 * The live-query statements. Live queries stream over WebSocket `/v1/ws`; over the SQL API:
 *
 * - `SUBSCRIBE TO ns.t [WHERE …] [OPTIONS (last_rows = n)]` checks the subscription like the WebSocket API would
 *   (table, permission, columns) and answers, as KalamDB does, with one row: a fresh `subscription_id`, the node's
 *   WebSocket URL (`ws_url`), the canonical `sql` and the `options` to send in a `subscribe` message there.
 * - `KILL LIVE QUERY 'live_id'` unregisters the live query through its user's shard; the node holding its socket
 *   sees the unregistration apply, ends the subscription and tells the client. The owner or dba/system may kill.
 */
import { randomUUID } from 'node:crypto';

import type { SubscribeTo } from '@kalam/sql';

import { dataUserShard } from '../group-id.js';
import { planLiveQuery } from '../live/plan.js';
import { printQuery } from '../live/print.js';
import {
  accepted,
  atLeast,
  messageResult,
  resolveTableId,
  type EngineContext,
  type StatementScope,
} from './context.js';
import { KalamError } from './errors.js';
import type { QueryResult, Session } from './types.js';

function wsUrlOf(ctx: EngineContext): string {
  const api = ctx.clusterView?.().nodes.find((n) => n.nodeId === ctx.nodeId)?.apiUrl ?? null;
  return api === null ? '/v1/ws' : `${api.replace(/^http/, 'ws')}/v1/ws`;
}

export async function subscribeTo(ctx: EngineContext, scope: StatementScope, s: SubscribeTo): Promise<QueryResult> {
  const plan = await planLiveQuery(ctx, scope, printQuery(resolveTableId(s.table, scope), s.where));
  const options = s.options.lastRows === undefined ? {} : { last_rows: s.options.lastRows };
  const id = `sub-${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const wsUrl = wsUrlOf(ctx);
  return {
    schema: [
      { name: 'subscription_id', data_type: 'Text', index: 0 },
      { name: 'ws_url', data_type: 'Text', index: 1 },
      { name: 'sql', data_type: 'Text', index: 2 },
      { name: 'options', data_type: 'Json', index: 3 },
    ],
    rows: [[id, wsUrl, plan.query, JSON.stringify(options)]],
    row_count: 1,
    message: `live queries stream over WebSocket: connect to ${wsUrl}, authenticate, then send {"type":"subscribe","subscription":{"id","sql","options"}} with this row`,
  };
}

export async function killLiveQuery(ctx: EngineContext, session: Session, liveId: string): Promise<QueryResult> {
  const shards = ctx.machines.userShards;
  await Promise.all(shards.map((m) => ctx.executor.readBarrier(dataUserShard(m.shard))));
  const found = shards.flatMap((m) => m.liveQueries()).find((q) => q['subscription_id'] === liveId);
  if (found === undefined) throw new KalamError('SQL_EXECUTION_ERROR', `live query ${liveId} does not exist`);
  const owner = String(found['user_id']);
  if (owner !== session.userId && !atLeast(session.role, 'dba')) {
    throw new KalamError(
      'PERMISSION_DENIED',
      `live query ${liveId} belongs to another user (dba or system may kill it)`,
    );
  }
  const cmd = { type: 'UnregisterLiveQuery', subscriptionId: liveId, userId: owner, metaIndex: 0 } as const;
  accepted(await ctx.executor.executeUserData(owner, cmd));
  return messageResult(`live query ${liveId} killed`);
}
