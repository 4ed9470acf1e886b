/**
 * meta:system: namespaces, the table catalog, storages.
 *
 * Ownership (DESIGN.md §6, README "Who owns what"): meta:system owns which tables exist and their schemas — the
 * catalog, with every incarnation and every schema version, dropped ones included (catalog.ts) — and nothing else.
 * Rows belong to the data groups: no meta:system entry and no meta:system restore ever writes, moves or deletes a row
 * or a flushed file. A DropTable only marks the incarnation dropped at its index; each data group purges its own rows
 * of it when its meta horizon passes that index (state/view.ts). Physical SQLite tables are node-local
 * (physical.ts): applying CreateTable and ALTER TABLE makes sure the physical table has the columns, a restore does
 * the same for every live incarnation, and an incarnation's physical table goes only once it is dropped and empty.
 */
import type { AppliedEntry } from '@kalam/multiraft';
import { Catalog } from '../catalog.js';
import type { TableInfo } from '../catalog.js';
import type { StorageConfig, SystemCommand, SystemResponse, TableSchema, TableType } from '../commands.js';
import type { DataStore } from '../store.js';
import { splitTableId } from '../tables.js';
import { checkAlter, checkSystemCommand } from '../validate.js';
import { ApplyError, KalamStateMachine } from './base.js';
import type { StateMachineOptions } from './base.js';

interface SystemState {
  namespaces: { namespace_id: string; created_by: string | null; created_at: number }[];
  tables: {
    table_id: string;
    incarnation: number;
    namespace_id: string;
    table_name: string;
    table_type: string;
    schema_json: string;
    version: number;
    created_at: number;
    dropped_index: number | null;
  }[];
  versions: { table_id: string; incarnation: number; version: number; from_index: number; schema_json: string }[];
  storages: { storage_id: string; config_json: string }[];
}

const TABLE_COLUMNS =
  'table_id, incarnation, namespace_id, table_name, table_type, schema_json, version, created_at, dropped_index';

export class SystemStateMachine extends KalamStateMachine<SystemCommand, SystemResponse> {
  readonly catalog: Catalog;

  constructor(store: DataStore, options: StateMachineOptions = {}) {
    super(store, 0, options);
    this.catalog = new Catalog(store);
  }

  protected check(value: unknown): SystemCommand {
    return checkSystemCommand(value);
  }

  protected applyCommand(cmd: SystemCommand, entry: AppliedEntry): SystemResponse {
    switch (cmd.type) {
      case 'CreateNamespace': {
        if (this.namespaceExists(cmd.namespaceId))
          throw new ApplyError('ALREADY_EXISTS', `namespace ${cmd.namespaceId} already exists`);
        this.store
          .prepare('INSERT INTO sys_namespaces (namespace_id, created_by, created_at) VALUES (?, ?, ?)')
          .run(cmd.namespaceId, cmd.createdBy, cmd.createdAt);
        return { type: 'NamespaceCreated', namespaceId: cmd.namespaceId };
      }
      case 'DeleteNamespace': {
        if (!this.namespaceExists(cmd.namespaceId))
          throw new ApplyError('NAMESPACE_NOT_FOUND', `namespace ${cmd.namespaceId} does not exist`);
        const n = this.store
          .prepare<[string], { n: number }>(
            'SELECT COUNT(*) AS n FROM sys_tables WHERE namespace_id = ? AND dropped_index IS NULL',
          )
          .get(cmd.namespaceId);
        if ((n?.n ?? 0) > 0) throw new ApplyError('CONFLICT', `namespace ${cmd.namespaceId} still has tables`);
        this.store.prepare('DELETE FROM sys_namespaces WHERE namespace_id = ?').run(cmd.namespaceId);
        return { type: 'Ok' };
      }
      case 'CreateTable':
        return this.createTable(cmd, entry.index);
      case 'AlterTable': {
        const t = this.catalog.table(cmd.tableId);
        if (t === undefined) throw new ApplyError('TABLE_NOT_FOUND', `table ${cmd.tableId} does not exist`);
        checkAlter(t.schema, cmd.schema, cmd.tableId);
        const version = t.version + 1;
        const json = JSON.stringify(cmd.schema);
        this.store
          .prepare('UPDATE sys_tables SET schema_json = ?, version = ? WHERE table_id = ? AND incarnation = ?')
          .run(json, version, t.tableId, t.incarnation);
        this.addVersion(t, version, entry.index, json);
        this.store.physical.ensure({ ...t, schema: cmd.schema });
        return { type: 'Ok' };
      }
      case 'DropTable': {
        const t = this.catalog.table(cmd.tableId);
        if (t === undefined) throw new ApplyError('TABLE_NOT_FOUND', `table ${cmd.tableId} does not exist`);
        this.store
          .prepare('UPDATE sys_tables SET dropped_index = ? WHERE table_id = ? AND incarnation = ?')
          .run(entry.index, t.tableId, t.incarnation);
        // The rows are the data groups' to purge; a physical table none of them holds rows in can go now.
        this.store.physical.dropIfEmpty(t);
        return { type: 'Ok' };
      }
      case 'RegisterStorage': {
        const exists =
          this.store.prepare('SELECT 1 FROM sys_storages WHERE storage_id = ?').get(cmd.storageId) !== undefined;
        if (exists) throw new ApplyError('ALREADY_EXISTS', `storage ${cmd.storageId} already exists`);
        this.store
          .prepare('INSERT INTO sys_storages (storage_id, config_json) VALUES (?, ?)')
          .run(cmd.storageId, JSON.stringify(cmd.config));
        return { type: 'Ok' };
      }
      case 'UnregisterStorage': {
        const users = this.tables().filter((t) => t.schema.options.storageId === cmd.storageId);
        if (users.length > 0) {
          const names = users.map((t) => t.tableId).join(', ');
          throw new ApplyError('CONFLICT', `storage ${cmd.storageId} is used by ${names}`);
        }
        const r = this.store.prepare('DELETE FROM sys_storages WHERE storage_id = ?').run(cmd.storageId);
        if (r.changes === 0) throw new ApplyError('NOT_FOUND', `storage ${cmd.storageId} does not exist`);
        return { type: 'Ok' };
      }
    }
  }

  /** CreateTable: a new incarnation, numbered by its own entry index (unique, and the same on every replica). */
  private createTable(cmd: Extract<SystemCommand, { type: 'CreateTable' }>, index: number): SystemResponse {
    const [ns, name] = splitTableId(cmd.tableId);
    if (!this.namespaceExists(ns)) throw new ApplyError('NAMESPACE_NOT_FOUND', `namespace ${ns} does not exist`);
    if (this.catalog.table(cmd.tableId) !== undefined)
      throw new ApplyError('ALREADY_EXISTS', `table ${cmd.tableId} already exists`);
    const storageId = cmd.schema.options.storageId;
    if (storageId !== undefined && this.storages().every((s) => s.storageId !== storageId)) {
      throw new ApplyError('NOT_FOUND', `storage ${storageId} does not exist`);
    }
    const json = JSON.stringify(cmd.schema);
    this.store
      .prepare(`INSERT INTO sys_tables (${TABLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 1, ?, NULL)`)
      .run(cmd.tableId, index, ns, name, cmd.tableType, json, cmd.createdAt);
    const t: TableInfo = {
      tableId: cmd.tableId,
      incarnation: index,
      tableType: cmd.tableType,
      schema: cmd.schema,
      version: 1,
    };
    this.addVersion(t, 1, index, json);
    this.store.physical.ensure(t);
    return { type: 'TableCreated', tableId: cmd.tableId };
  }

  private addVersion(t: TableInfo, version: number, fromIndex: number, schemaJson: string): void {
    this.store
      .prepare(
        'INSERT INTO sys_table_versions (table_id, incarnation, version, from_index, schema_json) VALUES (?, ?, ?, ?, ?)',
      )
      .run(t.tableId, t.incarnation, version, fromIndex, schemaJson);
  }

  private namespaceExists(ns: string): boolean {
    return this.store.prepare('SELECT 1 FROM sys_namespaces WHERE namespace_id = ?').get(ns) !== undefined;
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

  /** Every live table with its catalog row (for SHOW TABLES and system.tables). */
  tables(): (TableInfo & { namespaceId: string; tableName: string; createdAt: number })[] {
    return this.store
      .prepare<[], SystemState['tables'][number]>(
        `SELECT ${TABLE_COLUMNS} FROM sys_tables WHERE dropped_index IS NULL ORDER BY table_id`,
      )
      .all()
      .map((r) => ({
        tableId: r.table_id,
        incarnation: r.incarnation,
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
        .prepare(`SELECT ${TABLE_COLUMNS} FROM sys_tables ORDER BY table_id, incarnation`)
        .all() as SystemState['tables'],
      versions: this.store
        .prepare(
          'SELECT table_id, incarnation, version, from_index, schema_json FROM sys_table_versions ORDER BY table_id, incarnation, version',
        )
        .all() as SystemState['versions'],
      storages: this.store
        .prepare('SELECT storage_id, config_json FROM sys_storages ORDER BY storage_id')
        .all() as SystemState['storages'],
    };
  }

  /**
   * Replaces the catalog, namespaces and storages — and nothing else: rows, flushed files and the data groups' views
   * belong to the data groups, whose snapshots and entries may have come before or after this one on this node.
   */
  protected importState(state: unknown): void {
    const s = state as SystemState;
    this.store.db.exec(
      'DELETE FROM sys_namespaces; DELETE FROM sys_tables; DELETE FROM sys_table_versions; DELETE FROM sys_storages;',
    );
    const ns = this.store.prepare('INSERT INTO sys_namespaces (namespace_id, created_by, created_at) VALUES (?, ?, ?)');
    for (const n of s.namespaces) ns.run(n.namespace_id, n.created_by, n.created_at);
    const t = this.store.prepare(`INSERT INTO sys_tables (${TABLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    for (const r of s.tables) {
      t.run(
        r.table_id,
        r.incarnation,
        r.namespace_id,
        r.table_name,
        r.table_type,
        r.schema_json,
        r.version,
        r.created_at,
        r.dropped_index,
      );
    }
    const v = this.store.prepare(
      'INSERT INTO sys_table_versions (table_id, incarnation, version, from_index, schema_json) VALUES (?, ?, ?, ?, ?)',
    );
    for (const r of s.versions) v.run(r.table_id, r.incarnation, r.version, r.from_index, r.schema_json);
    const st = this.store.prepare('INSERT INTO sys_storages (storage_id, config_json) VALUES (?, ?)');
    for (const r of s.storages) st.run(r.storage_id, r.config_json);
    for (const live of this.catalog.tables()) this.store.physical.ensure(live);
    for (const r of s.tables) {
      if (r.dropped_index !== null)
        this.store.physical.dropIfEmpty({ tableId: r.table_id, incarnation: r.incarnation });
    }
  }
}
