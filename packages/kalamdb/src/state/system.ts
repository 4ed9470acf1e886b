/** meta:system: namespaces, tables (schemas, and the physical SQLite tables behind them), storages. */
import type { AppliedEntry } from '@kalam/multiraft';
import { Catalog } from '../catalog.js';
import type { StorageConfig, SystemCommand, SystemResponse, TableSchema, TableType } from '../commands.js';
import type { DataStore } from '../store.js';
import { addColumnSql, checkIdentifier, createTableSql, physicalName, splitTableId } from '../tables.js';
import { ApplyError, KalamStateMachine } from './base.js';

interface SystemState {
  namespaces: { namespace_id: string; created_by: string | null; created_at: number }[];
  tables: {
    table_id: string;
    namespace_id: string;
    table_name: string;
    table_type: string;
    schema_json: string;
    created_at: number;
    version: number;
  }[];
  storages: { storage_id: string; config_json: string }[];
}

export class SystemStateMachine extends KalamStateMachine<SystemCommand, SystemResponse> {
  private readonly catalog: Catalog;

  /** `onDropTable`: forgets the table's flushed files too (cold/store.ts), in the same transaction. */
  constructor(
    store: DataStore,
    private readonly onDropTable: (tableId: string) => void = () => undefined,
  ) {
    super(store, 0);
    this.catalog = new Catalog(store);
  }

  protected applyCommand(cmd: SystemCommand, _entry: AppliedEntry): SystemResponse {
    const db = this.store.db;
    switch (cmd.type) {
      case 'CreateNamespace': {
        checkIdentifier('namespace', cmd.namespaceId);
        if (this.namespaceExists(cmd.namespaceId))
          throw new ApplyError('ALREADY_EXISTS', `namespace ${cmd.namespaceId} already exists`);
        this.store
          .prepare('INSERT INTO sys_namespaces (namespace_id, created_by, created_at) VALUES (?, ?, ?)')
          .run(cmd.namespaceId, cmd.createdBy, cmd.createdAt);
        return { type: 'NamespaceCreated', namespaceId: cmd.namespaceId };
      }
      case 'DeleteNamespace': {
        if (!this.namespaceExists(cmd.namespaceId))
          throw new ApplyError('NOT_FOUND', `namespace ${cmd.namespaceId} does not exist`);
        const n = this.store
          .prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM sys_tables WHERE namespace_id = ?')
          .get(cmd.namespaceId);
        if ((n?.n ?? 0) > 0) throw new ApplyError('CONFLICT', `namespace ${cmd.namespaceId} still has tables`);
        this.store.prepare('DELETE FROM sys_namespaces WHERE namespace_id = ?').run(cmd.namespaceId);
        return { type: 'Ok' };
      }
      case 'CreateTable': {
        const [ns, name] = splitTableId(cmd.tableId);
        if (!this.namespaceExists(ns)) throw new ApplyError('NOT_FOUND', `namespace ${ns} does not exist`);
        if (this.catalog.table(cmd.tableId) !== undefined)
          throw new ApplyError('ALREADY_EXISTS', `table ${cmd.tableId} already exists`);
        this.checkSchema(cmd.schema);
        this.store
          .prepare(
            'INSERT INTO sys_tables (table_id, namespace_id, table_name, table_type, schema_json, created_at, version) VALUES (?, ?, ?, ?, ?, ?, 1)',
          )
          .run(cmd.tableId, ns, name, cmd.tableType, JSON.stringify(cmd.schema), cmd.createdAt);
        db.exec(createTableSql(cmd.tableId, cmd.tableType, cmd.schema));
        return { type: 'TableCreated', tableId: cmd.tableId };
      }
      case 'AlterTable': {
        const t = this.catalog.table(cmd.tableId);
        if (t === undefined) throw new ApplyError('TABLE_NOT_FOUND', `table ${cmd.tableId} does not exist`);
        this.checkSchema(cmd.schema);
        const old = t.schema.columns.map((c) => c.name);
        if (
          !old.every((c) => cmd.schema.columns.some((n) => n.name === c)) ||
          cmd.schema.primaryKey !== t.schema.primaryKey
        ) {
          throw new ApplyError('INVALID', `ALTER TABLE ${cmd.tableId} may only add columns`);
        }
        this.store
          .prepare('UPDATE sys_tables SET schema_json = ?, version = version + 1 WHERE table_id = ?')
          .run(JSON.stringify(cmd.schema), cmd.tableId);
        for (const sql of addColumnSql(cmd.tableId, this.physicalColumns(cmd.tableId), cmd.schema)) db.exec(sql);
        return { type: 'Ok' };
      }
      case 'DropTable': {
        if (this.catalog.table(cmd.tableId) === undefined)
          throw new ApplyError('TABLE_NOT_FOUND', `table ${cmd.tableId} does not exist`);
        this.store.prepare('DELETE FROM sys_tables WHERE table_id = ?').run(cmd.tableId);
        db.exec(`DROP TABLE IF EXISTS "${physicalName(cmd.tableId)}"`);
        this.onDropTable(cmd.tableId);
        return { type: 'Ok' };
      }
      case 'RegisterStorage': {
        checkIdentifier('storage', cmd.storageId);
        const exists =
          this.store.prepare('SELECT 1 FROM sys_storages WHERE storage_id = ?').get(cmd.storageId) !== undefined;
        if (exists) throw new ApplyError('ALREADY_EXISTS', `storage ${cmd.storageId} already exists`);
        this.store
          .prepare('INSERT INTO sys_storages (storage_id, config_json) VALUES (?, ?)')
          .run(cmd.storageId, JSON.stringify(cmd.config));
        return { type: 'Ok' };
      }
      case 'UnregisterStorage': {
        const r = this.store.prepare('DELETE FROM sys_storages WHERE storage_id = ?').run(cmd.storageId);
        if (r.changes === 0) throw new ApplyError('NOT_FOUND', `storage ${cmd.storageId} does not exist`);
        return { type: 'Ok' };
      }
    }
  }

  private namespaceExists(ns: string): boolean {
    return this.store.prepare('SELECT 1 FROM sys_namespaces WHERE namespace_id = ?').get(ns) !== undefined;
  }

  private checkSchema(schema: TableSchema): void {
    if (schema.columns.length === 0) throw new ApplyError('INVALID', 'a table needs at least one column');
    for (const c of schema.columns) checkIdentifier('column', c.name);
    if (new Set(schema.columns.map((c) => c.name)).size !== schema.columns.length)
      throw new ApplyError('INVALID', 'duplicate column names');
    if (!schema.columns.some((c) => c.name === schema.primaryKey)) {
      throw new ApplyError('INVALID', `primary key ${schema.primaryKey} is not a column`);
    }
  }

  private physicalColumns(tableId: string): string[] {
    return this.store
      .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${physicalName(tableId)}')`)
      .all()
      .map((r) => r.name);
  }

  /** Every namespace, by id (for SHOW NAMESPACES and system.namespaces). */
  namespaces(): { namespaceId: string; createdBy: string | null; createdAt: number }[] {
    return this.store
      .prepare<[], { namespace_id: string; created_by: string | null; created_at: number }>(
        'SELECT namespace_id, created_by, created_at FROM sys_namespaces ORDER BY namespace_id',
      )
      .all()
      .map((r) => ({ namespaceId: r.namespace_id, createdBy: r.created_by, createdAt: r.created_at }));
  }

  /** Every table with its catalog row (for SHOW TABLES and system.tables). */
  tables(): {
    tableId: string;
    namespaceId: string;
    tableName: string;
    tableType: TableType;
    schema: TableSchema;
    createdAt: number;
    version: number;
  }[] {
    return this.store
      .prepare<[], SystemState['tables'][number]>(
        'SELECT table_id, namespace_id, table_name, table_type, schema_json, created_at, version FROM sys_tables ORDER BY table_id',
      )
      .all()
      .map((r) => ({
        tableId: r.table_id,
        namespaceId: r.namespace_id,
        tableName: r.table_name,
        tableType: r.table_type as TableType,
        schema: JSON.parse(r.schema_json) as TableSchema,
        createdAt: r.created_at,
        version: r.version,
      }));
  }

  storages(): { storageId: string; config: StorageConfig }[] {
    return this.store
      .prepare<[], { storage_id: string; config_json: string }>(
        'SELECT storage_id, config_json FROM sys_storages ORDER BY storage_id',
      )
      .all()
      .map((r) => ({ storageId: r.storage_id, config: JSON.parse(r.config_json) as StorageConfig }));
  }

  protected exportState(): SystemState {
    return {
      namespaces: this.store
        .prepare('SELECT namespace_id, created_by, created_at FROM sys_namespaces ORDER BY namespace_id')
        .all() as SystemState['namespaces'],
      tables: this.store
        .prepare(
          'SELECT table_id, namespace_id, table_name, table_type, schema_json, created_at, version FROM sys_tables ORDER BY table_id',
        )
        .all() as SystemState['tables'],
      storages: this.store
        .prepare('SELECT storage_id, config_json FROM sys_storages ORDER BY storage_id')
        .all() as SystemState['storages'],
    };
  }

  protected importState(state: unknown): void {
    const s = state as SystemState;
    const db = this.store.db;
    const keep = new Set(s.tables.map((t) => physicalName(t.table_id)));
    // Tables dropped in the snapshot's history go, with their rows; the others are (re)created if missing.
    const physical = this.store
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'kt\\_%' ESCAPE '\\'",
      )
      .all();
    for (const { name } of physical) if (!keep.has(name)) db.exec(`DROP TABLE IF EXISTS "${name}"`);
    db.exec('DELETE FROM sys_namespaces; DELETE FROM sys_tables; DELETE FROM sys_storages;');
    const ns = this.store.prepare('INSERT INTO sys_namespaces (namespace_id, created_by, created_at) VALUES (?, ?, ?)');
    for (const n of s.namespaces) ns.run(n.namespace_id, n.created_by, n.created_at);
    const t = this.store.prepare(
      'INSERT INTO sys_tables (table_id, namespace_id, table_name, table_type, schema_json, created_at, version) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const r of s.tables) {
      t.run(r.table_id, r.namespace_id, r.table_name, r.table_type, r.schema_json, r.created_at, r.version);
      const schema = JSON.parse(r.schema_json) as TableSchema;
      db.exec(createTableSql(r.table_id, r.table_type as TableType, schema));
      for (const sql of addColumnSql(r.table_id, this.physicalColumns(r.table_id), schema)) db.exec(sql);
    }
    const st = this.store.prepare('INSERT INTO sys_storages (storage_id, config_json) VALUES (?, ?)');
    for (const r of s.storages) st.run(r.storage_id, r.config_json);
  }
}
