/**
 * The data groups: a user shard (USER and STREAM table rows of the users routed to it, and their live
 * queries) and a shared shard (SHARED table rows). Writes are soft: a delete sets `_deleted`; every written
 * row gets the next `_seq` from the command's `seqBase`, so replicas agree on it.
 *
 * Cross-group order (DESIGN.md §6): a data command carries the meta:system index it was planned against;
 * `canApply` holds the group until this node's meta:system has applied that index — the group pauses, it
 * never skips.
 */
import type { AppliedEntry } from '@kalam/multiraft';
import { matches } from '@kalam/sql';
import { Catalog } from '../catalog.js';
import type { TableInfo } from '../catalog.js';
import { decodeCommand } from '../codec.js';
import type {
  DataResponse,
  Filter,
  Row,
  SharedDataCommand,
  TableSchema,
  TableType,
  UserDataCommand,
  Value,
} from '../commands.js';
import type { ShardRouter } from '../shard-router.js';
import type { DataStore } from '../store.js';
import { addColumnSql, checkRow, createTableSql, fromSqlite, isPerUser, physicalName, toSqlite } from '../tables.js';
import { ApplyError, KalamStateMachine } from './base.js';

/** Whose rows a command touches: one user's in a user shard, or all rows of a shared table. */
type Scope = { readonly kind: 'user'; readonly userId: string; readonly shard: number } | { readonly kind: 'shared' };

interface StoredRow {
  readonly values: Record<string, Value>;
  readonly seq: number;
  readonly deleted: boolean;
}

/** Row operations over the physical tables, shared by both data state machines. */
class Rows {
  constructor(
    private readonly store: DataStore,
    private readonly catalog: Catalog,
  ) {}

  table(tableId: string, wantPerUser: boolean): TableInfo {
    const t = this.catalog.table(tableId);
    if (t === undefined || isPerUser(t.tableType) !== wantPerUser) {
      throw new ApplyError(
        'TABLE_NOT_FOUND',
        `table ${tableId} does not exist${t === undefined ? '' : ` as a ${wantPerUser ? 'USER' : 'SHARED'} table`}`,
      );
    }
    return t;
  }

  private where(scope: Scope): { sql: string; args: (string | number)[] } {
    return scope.kind === 'user' ? { sql: '"_user_id" = ?', args: [scope.userId] } : { sql: '1 = 1', args: [] };
  }

  /** Every row in scope, deleted ones included, in primary-key order. */
  scan(t: TableInfo, scope: Scope): StoredRow[] {
    const w = this.where(scope);
    const pk = t.schema.primaryKey;
    const rows = this.store.db
      .prepare(`SELECT * FROM "${physicalName(t.tableId)}" WHERE ${w.sql} ORDER BY "${pk}"`)
      .all(...w.args) as Record<string, unknown>[];
    return rows.map((r) => toStored(t.schema, r));
  }

  /** The live row with this primary key in scope, if any (an index probe). */
  byKey(t: TableInfo, scope: Scope, key: Value): StoredRow | undefined {
    const w = this.where(scope);
    const r = this.store.db
      .prepare(
        `SELECT * FROM "${physicalName(t.tableId)}" WHERE ${w.sql} AND "${t.schema.primaryKey}" = ? AND "_deleted" = 0`,
      )
      .get(...w.args, toSqlite(key)) as Record<string, unknown> | undefined;
    return r === undefined ? undefined : toStored(t.schema, r);
  }

  insert(t: TableInfo, scope: Scope, rows: readonly Row[], seqBase: number): number {
    const cols = t.schema.columns.map((c) => c.name);
    const perUser = scope.kind === 'user';
    const names = [...cols, '_seq', '_deleted', ...(perUser ? ['_user_id', '_shard'] : [])];
    const stmt = this.store.db.prepare(
      `INSERT OR REPLACE INTO "${physicalName(t.tableId)}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
    );
    // One primary-key lookup per row (an index probe), not a scan of the table.
    const w = this.where(scope);
    const pk = t.schema.primaryKey;
    const live = this.store.db.prepare(
      `SELECT 1 FROM "${physicalName(t.tableId)}" WHERE ${w.sql} AND "${pk}" = ? AND "_deleted" = 0`,
    );
    const seen = new Set<string>();
    rows.forEach((row, i) => {
      const full = withDefaults(t.schema, row);
      const problem = checkRow(t.schema, full);
      if (problem !== null) throw new ApplyError('INVALID', `row ${i + 1}: ${problem}`);
      const key = JSON.stringify(full[pk]);
      if (seen.has(key) || live.get(...w.args, toSqlite(full[pk] ?? null)) !== undefined) {
        throw new ApplyError('CONFLICT', `duplicate primary key ${t.schema.primaryKey} = ${key} in ${t.tableId}`);
      }
      seen.add(key);
      const values = cols.map((c) => toSqlite(full[c] ?? null));
      const sys = [seqBase + i, 0, ...(scope.kind === 'user' ? [scope.userId, scope.shard] : [])];
      stmt.run(...values, ...sys);
    });
    return rows.length;
  }

  /** Updates (or soft-deletes, with `updates` null) the live rows in scope that match the filter. */
  modify(t: TableInfo, scope: Scope, updates: Row | null, filter: Filter | null, seqBase: number): number {
    if (updates !== null) {
      for (const k of Object.keys(updates)) {
        if (!t.schema.columns.some((c) => c.name === k)) throw new ApplyError('INVALID', `unknown column ${k}`);
        if (k === t.schema.primaryKey) throw new ApplyError('INVALID', `the primary key ${k} cannot be updated`);
      }
    }
    const target = this.scan(t, scope).filter((r) => !r.deleted && (filter === null || matches(filter, r.values)));
    const pk = t.schema.primaryKey;
    const w = this.where(scope);
    const sets = updates === null ? ['"_deleted" = 1'] : Object.keys(updates).map((k) => `"${k}" = ?`);
    const stmt = this.store.db.prepare(
      `UPDATE "${physicalName(t.tableId)}" SET ${[...sets, '"_seq" = ?'].join(', ')} WHERE ${w.sql} AND "${pk}" = ?`,
    );
    target.forEach((r, i) => {
      if (updates !== null) {
        const problem = checkRow(t.schema, { ...r.values, ...updates });
        if (problem !== null) throw new ApplyError('INVALID', problem);
      }
      const vals = updates === null ? [] : Object.values(updates).map(toSqlite);
      stmt.run(...vals, seqBase + i, ...w.args, toSqlite(r.values[pk] ?? null));
    });
    return target.length;
  }
}

function withDefaults(schema: TableSchema, row: Row): Record<string, Value> {
  const out: Record<string, Value> = { ...row };
  for (const c of schema.columns) {
    if (out[c.name] === undefined && c.default !== null && 'literal' in c.default) out[c.name] = c.default.literal;
  }
  return out;
}

function toStored(schema: TableSchema, r: Record<string, unknown>): StoredRow {
  const values: Record<string, Value> = {};
  for (const c of schema.columns) values[c.name] = fromSqlite(c, r[c.name]);
  return { values, seq: Number(r._seq), deleted: r._deleted === 1 };
}

/** What a data shard's snapshot holds for one table. */
interface TableDump {
  tableId: string;
  tableType: TableType;
  schema: TableSchema;
  rows: Record<string, unknown>[];
}

abstract class DataStateMachine<
  C extends { readonly type: string; readonly metaIndex?: number },
> extends KalamStateMachine<C, DataResponse> {
  protected readonly catalog: Catalog;
  protected readonly rows: Rows;

  constructor(store: DataStore, groupId: number) {
    super(store, groupId);
    this.catalog = new Catalog(store);
    this.rows = new Rows(store, this.catalog);
  }

  /** Holds the entry until this node's meta:system has applied the index it was planned against. */
  canApply(entry: AppliedEntry): boolean {
    if (entry.kind !== 'command') return true;
    let metaIndex: unknown;
    try {
      metaIndex = decodeCommand<C>(entry.data).metaIndex;
    } catch {
      return true; // apply() answers undecodable commands with an Error
    }
    return typeof metaIndex !== 'number' || this.store.appliedIndex(0) >= metaIndex;
  }

  protected abstract inScope(t: TableInfo): boolean;
  protected abstract scopeWhere(): { sql: string; args: (string | number)[] };

  protected dumpTables(): TableDump[] {
    return this.catalog
      .tables()
      .filter((t) => this.inScope(t))
      .map((t) => {
        const w = this.scopeWhere();
        const rows = this.store.db
          .prepare(`SELECT * FROM "${physicalName(t.tableId)}" WHERE ${w.sql} ORDER BY rowid`)
          .all(...w.args) as Record<string, unknown>[];
        return { tableId: t.tableId, tableType: t.tableType, schema: t.schema, rows };
      });
  }

  protected loadTables(dumps: readonly TableDump[]): void {
    const db = this.store.db;
    const w = this.scopeWhere();
    for (const t of this.catalog.tables())
      if (this.inScope(t)) db.prepare(`DELETE FROM "${physicalName(t.tableId)}" WHERE ${w.sql}`).run(...w.args);
    for (const d of dumps) {
      // The shard may be restored before this node's meta:system created the table: create it from the schema.
      db.exec(createTableSql(d.tableId, d.tableType, d.schema));
      // … or it may know an older schema: the snapshot's rows may carry columns added since.
      const have = db
        .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${physicalName(d.tableId)}')`)
        .all()
        .map((c) => c.name);
      for (const sql of addColumnSql(d.tableId, have, d.schema)) db.exec(sql);
      db.prepare(`DELETE FROM "${physicalName(d.tableId)}" WHERE ${w.sql}`).run(...w.args);
      for (const r of d.rows) {
        const names = Object.keys(r);
        db.prepare(
          `INSERT INTO "${physicalName(d.tableId)}" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
        ).run(...names.map((n) => r[n] as string | number | null));
      }
    }
  }
}

export class UserDataStateMachine extends DataStateMachine<UserDataCommand> {
  constructor(
    store: DataStore,
    readonly shard: number,
    private readonly router: ShardRouter,
  ) {
    super(store, 100 + shard);
  }

  private scope(userId: string): Scope {
    if (this.router.userShard(userId) !== this.shard) {
      throw new ApplyError('INVALID', `user ${userId} does not belong to shard ${this.shard}`);
    }
    return { kind: 'user', userId, shard: this.shard };
  }

  protected applyCommand(cmd: UserDataCommand): DataResponse {
    const db = this.store.db;
    switch (cmd.type) {
      case 'Insert':
        return {
          type: 'RowsAffected',
          count: this.rows.insert(this.rows.table(cmd.tableId, true), this.scope(cmd.userId), cmd.rows, cmd.seqBase),
        };
      case 'Update':
        return {
          type: 'RowsAffected',
          count: this.rows.modify(
            this.rows.table(cmd.tableId, true),
            this.scope(cmd.userId),
            cmd.updates,
            cmd.filter,
            cmd.seqBase,
          ),
        };
      case 'Delete':
        return {
          type: 'RowsAffected',
          count: this.rows.modify(
            this.rows.table(cmd.tableId, true),
            this.scope(cmd.userId),
            null,
            cmd.filter,
            cmd.seqBase,
          ),
        };
      case 'RegisterLiveQuery':
        this.scope(cmd.userId);
        db.prepare(
          'INSERT OR REPLACE INTO sys_live_queries (subscription_id, user_id, shard, query_hash, table_id, filter_json, node_id, created_at, last_ping_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        ).run(
          cmd.subscriptionId,
          cmd.userId,
          this.shard,
          cmd.queryHash,
          cmd.tableId,
          cmd.filter === null ? null : JSON.stringify(cmd.filter),
          cmd.nodeId,
          cmd.createdAt,
          cmd.createdAt,
        );
        return { type: 'Subscribed', subscriptionId: cmd.subscriptionId };
      case 'UnregisterLiveQuery': {
        const r = db
          .prepare('DELETE FROM sys_live_queries WHERE subscription_id = ? AND user_id = ?')
          .run(cmd.subscriptionId, cmd.userId);
        return { type: 'RowsAffected', count: r.changes };
      }
      case 'CleanupNodeSubscriptions': {
        const r = db
          .prepare('DELETE FROM sys_live_queries WHERE user_id = ? AND node_id = ? AND shard = ?')
          .run(cmd.userId, cmd.failedNodeId, this.shard);
        return { type: 'RowsAffected', count: r.changes };
      }
      case 'PingLiveQuery': {
        const r = db
          .prepare('UPDATE sys_live_queries SET last_ping_at = ? WHERE subscription_id = ? AND user_id = ?')
          .run(cmd.pingedAt, cmd.subscriptionId, cmd.userId);
        return { type: 'RowsAffected', count: r.changes };
      }
    }
  }

  protected inScope(t: TableInfo): boolean {
    return isPerUser(t.tableType);
  }

  protected scopeWhere(): { sql: string; args: (string | number)[] } {
    return { sql: '"_shard" = ?', args: [this.shard] };
  }

  protected exportState(): unknown {
    const liveQueries = this.store.db
      .prepare('SELECT * FROM sys_live_queries WHERE shard = ? ORDER BY subscription_id')
      .all(this.shard);
    return { tables: this.dumpTables(), liveQueries };
  }

  protected importState(state: unknown): void {
    const s = state as { tables: TableDump[]; liveQueries: Record<string, unknown>[] };
    this.loadTables(s.tables);
    const db = this.store.db;
    db.prepare('DELETE FROM sys_live_queries WHERE shard = ?').run(this.shard);
    for (const r of s.liveQueries) {
      const names = Object.keys(r);
      db.prepare(`INSERT INTO sys_live_queries (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`).run(
        ...names.map((n) => r[n] as string | number | null),
      );
    }
  }

  /** The live queries registered in this shard (for system.live_queries), by subscription id. */
  liveQueries(): Record<string, Value>[] {
    return this.store.db
      .prepare<[number], Record<string, Value>>(
        'SELECT subscription_id, user_id, shard, query_hash, table_id, filter_json, node_id, created_at, last_ping_at FROM sys_live_queries WHERE shard = ? ORDER BY subscription_id',
      )
      .all(this.shard);
  }

  /** A user's live row with this primary key, for point reads. */
  userRowByKey(tableId: string, userId: string, key: Value): Record<string, Value> | undefined {
    const t = this.rows.table(tableId, true);
    const r = this.rows.byKey(t, this.scope(userId), key);
    return r === undefined ? undefined : { ...r.values, _seq: r.seq };
  }

  /** A user's live rows of a table, for reads (the executor adds the read point). */
  userRows(tableId: string, userId: string): Record<string, Value>[] {
    const t = this.rows.table(tableId, true);
    return this.rows
      .scan(t, this.scope(userId))
      .filter((r) => !r.deleted)
      .map((r) => ({ ...r.values, _seq: r.seq }));
  }
}

export class SharedDataStateMachine extends DataStateMachine<SharedDataCommand> {
  constructor(
    store: DataStore,
    readonly shard: number,
  ) {
    super(store, 200 + shard);
  }

  protected applyCommand(cmd: SharedDataCommand): DataResponse {
    const scope: Scope = { kind: 'shared' };
    const t = this.rows.table(cmd.tableId, false);
    switch (cmd.type) {
      case 'Insert':
        return { type: 'RowsAffected', count: this.rows.insert(t, scope, cmd.rows, cmd.seqBase) };
      case 'Update':
        return { type: 'RowsAffected', count: this.rows.modify(t, scope, cmd.updates, cmd.filter, cmd.seqBase) };
      case 'Delete':
        return { type: 'RowsAffected', count: this.rows.modify(t, scope, null, cmd.filter, cmd.seqBase) };
    }
  }

  protected inScope(t: TableInfo): boolean {
    return !isPerUser(t.tableType);
  }

  protected scopeWhere(): { sql: string; args: (string | number)[] } {
    return { sql: '1 = 1', args: [] };
  }

  protected exportState(): unknown {
    return { tables: this.dumpTables() };
  }

  protected importState(state: unknown): void {
    this.loadTables((state as { tables: TableDump[] }).tables);
  }

  rowByKey(tableId: string, key: Value): Record<string, Value> | undefined {
    const t = this.rows.table(tableId, false);
    const r = this.rows.byKey(t, { kind: 'shared' }, key);
    return r === undefined ? undefined : { ...r.values, _seq: r.seq };
  }

  rowsOf(tableId: string): Record<string, Value>[] {
    const t = this.rows.table(tableId, false);
    return this.rows
      .scan(t, { kind: 'shared' })
      .filter((r) => !r.deleted)
      .map((r) => ({ ...r.values, _seq: r.seq }));
  }
}
