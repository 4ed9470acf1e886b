/**
 * The `system.*` tables: views over local state machine state, read after a read barrier on the group that owns it
 * (meta:system, meta:users, meta:jobs, every user shard for live queries), then queried like any table. The cluster
 * views come from the node process (`clusterView`); standalone shows one node and no groups.
 * system.users never carries password hashes. system.tables and system.namespaces are readable by every role,
 * the rest by dba and system. `requireSystemRead` is that rule, for every surface that shows the same data: SHOW
 * STORAGES (system.storages), SHOW NAMESPACES / SHOW TABLES, and the HTTP cluster status (system.cluster_nodes and
 * system.cluster_groups) — so a role cannot see through one door what another keeps from it.
 */
import type { Role, Value } from '../commands.js';
import { MetaJobs, MetaSystem, MetaUsers, dataUserShard } from '../group-id.js';
import { printQuery } from '../live/print.js';
import { splitTableId } from '../tables.js';
import type { Expr } from '@kalam/sql';
import { KalamError } from './errors.js';
import { atLeast, requireRole, type EngineContext, type StatementScope } from './context.js';
import type { Relation, RelationColumn } from './query.js';
import type { Session } from './types.js';
import { SCHEDULE_COLUMNS, SCHEDULES_MIN_ROLE, scheduleRows } from './schedules.js';

interface SystemTable {
  readonly columns: readonly RelationColumn[];
  readonly minRole: Role;
  readonly load: (ctx: EngineContext) => Promise<Record<string, Value>[]>;
}

function cols(spec: string): RelationColumn[] {
  return spec.split(',').map((part) => {
    const [name, type] = part.trim().split(' ') as [string, string | undefined];
    return { name, type: type ?? 'TEXT' };
  });
}

function jsonOrNull(v: unknown): Value {
  return v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v);
}

const SYSTEM_TABLES = {
  users: {
    columns: cols(
      'user_id, username, role, created_at TIMESTAMP, updated_at TIMESTAMP, deleted_at TIMESTAMP, locked_until TIMESTAMP, last_login_at TIMESTAMP',
    ),
    minRole: 'dba',
    load: async (ctx) => {
      await ctx.executor.readBarrier(MetaUsers);
      return ctx.machines.users.list().map((u) => ({ ...u }));
    },
  },
  namespaces: {
    columns: cols('namespace_id, created_by, created_at TIMESTAMP'),
    minRole: 'user',
    load: async (ctx) => {
      await ctx.executor.readBarrier(MetaSystem);
      return ctx.machines.system
        .namespaces()
        .map((n) => ({ namespace_id: n.namespaceId, created_by: n.createdBy, created_at: n.createdAt }));
    },
  },
  tables: {
    columns: cols(
      'table_id, namespace_id, table_name, table_type, primary_key, schema_version INT, created_at TIMESTAMP, options JSON',
    ),
    minRole: 'user',
    load: async (ctx) => {
      await ctx.executor.readBarrier(MetaSystem);
      return ctx.machines.system.tables().map((t) => ({
        table_id: t.tableId,
        namespace_id: t.namespaceId,
        table_name: t.tableName,
        table_type: t.tableType,
        primary_key: t.schema.primaryKey,
        schema_version: t.version,
        created_at: t.createdAt,
        options: JSON.stringify(t.schema.options),
      }));
    },
  },
  storages: {
    columns: cols('storage_id, storage_type, base_directory'),
    minRole: 'dba',
    load: async (ctx) => {
      await ctx.executor.readBarrier(MetaSystem);
      return ctx.machines.system
        .storages()
        .map((s) => ({ storage_id: s.storageId, storage_type: s.config.type, base_directory: s.config.path }));
    },
  },
  jobs: {
    columns: cols(
      'job_id, job_type, namespace_id, table_name, config JSON, status, node_id BIGINT, created_at TIMESTAMP, updated_at TIMESTAMP, claimed_at TIMESTAMP, completed_at TIMESTAMP, result, error_message',
    ),
    minRole: 'dba',
    load: async (ctx) => {
      await ctx.executor.readBarrier(MetaJobs);
      return ctx.machines.jobs.jobs().map((j) => {
        const { config_json: config, ...rest } = j;
        const row: Record<string, Value> = { config: jsonOrNull(config) };
        for (const [k, v] of Object.entries(rest)) row[k] = v === undefined ? null : (v as Value);
        return row;
      });
    },
  },
  schedules: {
    columns: SCHEDULE_COLUMNS,
    minRole: SCHEDULES_MIN_ROLE,
    load: scheduleRows,
  },
  live_queries: {
    // live_id is `<connection_id>-<subscription_id>` (the WebSocket API makes connection ids without '-').
    columns: cols(
      'live_id, connection_id, subscription_id, namespace_id, table_name, user_id, query, query_hash, status, node_id BIGINT, created_at TIMESTAMP, last_update TIMESTAMP',
    ),
    minRole: 'dba',
    load: async (ctx) => {
      const shards = ctx.machines.userShards;
      await Promise.all(shards.map((s) => ctx.executor.readBarrier(dataUserShard(s.shard))));
      return shards.flatMap((s) =>
        s.liveQueries().map((q) => {
          const liveId = String(q['subscription_id']);
          const dash = liveId.indexOf('-');
          const [ns, table] = splitTableId(String(q['table_id']));
          const filter = q['filter_json'];
          return {
            live_id: liveId,
            connection_id: dash < 0 ? null : liveId.slice(0, dash),
            subscription_id: dash < 0 ? liveId : liveId.slice(dash + 1),
            namespace_id: ns,
            table_name: table,
            user_id: q['user_id'] ?? null,
            query: printQuery(String(q['table_id']), typeof filter === 'string' ? (JSON.parse(filter) as Expr) : null),
            query_hash: q['query_hash'] ?? null,
            status: 'active',
            node_id: q['node_id'] ?? null,
            created_at: q['created_at'] ?? null,
            last_update: q['last_ping_at'] ?? null,
          };
        }),
      );
    },
  },
  cluster_nodes: {
    // The replicated member list of meta:system (every member ever, removed ones too), with this node's view of
    // which are up. Before the list is seeded (and on a standalone node) the node's own view stands in, as voters.
    columns: cols('node_id BIGINT, rpc_addr, api_url, state, created_at TIMESTAMP, is_up BOOLEAN, is_self BOOLEAN'),
    minRole: 'dba',
    load: async (ctx) => {
      const view = ctx.clusterView?.().nodes ?? [{ nodeId: ctx.nodeId, apiUrl: null, rpcAddr: null, up: true }];
      const up = new Map(view.map((n) => [n.nodeId, n.up]));
      await ctx.executor.readBarrier(MetaSystem);
      const members = ctx.machines.system.clusterNodes();
      if (members.length === 0) {
        return view.map((n) => ({
          node_id: n.nodeId,
          rpc_addr: n.rpcAddr,
          api_url: n.apiUrl,
          state: 'voter',
          created_at: null,
          is_up: n.up,
          is_self: n.nodeId === ctx.nodeId,
        }));
      }
      return members.map((n) => ({
        node_id: n.nodeId,
        rpc_addr: n.rpcAddr,
        api_url: n.apiAddr,
        state: n.state,
        created_at: n.createdAt,
        is_up: n.nodeId === ctx.nodeId || up.get(n.nodeId) === true,
        is_self: n.nodeId === ctx.nodeId,
      }));
    },
  },
  cluster_groups: {
    columns: cols(
      'group_name, node_id BIGINT, role, leader_id BIGINT, term BIGINT, commit_index BIGINT, applied_index BIGINT, voters JSON, learners JSON',
    ),
    minRole: 'dba',
    load: (ctx) => {
      const groups = ctx.clusterView?.().groups ?? [];
      return Promise.resolve(
        groups.map((g) => ({
          group_name: g.name,
          node_id: g.nodeId,
          role: g.role,
          leader_id: g.leader,
          term: g.term,
          commit_index: g.commitIndex,
          applied_index: g.appliedIndex,
          voters: g.voters === undefined ? null : JSON.stringify(g.voters),
          learners: g.learners === undefined ? null : JSON.stringify(g.learners),
        })),
      );
    },
  },
} as const satisfies Readonly<Record<string, SystemTable>>;

export type SystemTableName = keyof typeof SYSTEM_TABLES;

/**
 * Throws PERMISSION_DENIED unless the session may read `system.<name>` — and so anything else that shows the same
 * data. `what` names the surface in the message (default: the table).
 */
export function requireSystemRead(session: Session, name: SystemTableName, what = `reading system.${name}`): void {
  requireRole(session, SYSTEM_TABLES[name].minRole, what);
}

/** True when the session may read `system.<name>` (the rule of `requireSystemRead`, as a question). */
export function canReadSystem(session: Session, name: SystemTableName): boolean {
  return atLeast(session.role, SYSTEM_TABLES[name].minRole);
}

function isSystemTableName(name: string): name is SystemTableName {
  return Object.hasOwn(SYSTEM_TABLES, name);
}

/** The rows of `system.<name>` for the scope's session, or TABLE_NOT_FOUND / PERMISSION_DENIED. */
export async function systemRelation(ctx: EngineContext, scope: StatementScope, name: string): Promise<Relation> {
  if (!isSystemTableName(name)) throw new KalamError('TABLE_NOT_FOUND', `table system.${name} does not exist`);
  requireSystemRead(scope.session, name);
  const table: SystemTable = SYSTEM_TABLES[name];
  return { name: `system.${name}`, columns: table.columns, hidden: [], rows: await table.load(ctx) };
}
