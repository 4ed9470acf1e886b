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
 *
 * It also holds the cluster's member list (system.cluster_nodes, issue [M9] §2): seeded once from the static member
 * list, a row per joining node with an id given out here (largest ever + 1: rows are never deleted, so never reused),
 * and each node's state moved only along CLUSTER_NODE_TRANSITIONS by a compare-and-set, so a stale reconciler (an old
 * leader) can never move a node back.
 */
import type { AppliedEntry } from '@kalam/multiraft';
import { Catalog } from '../catalog.js';
import type { TableInfo } from '../catalog.js';
import type {
  ClusterNodeRecord,
  ClusterNodeState,
  StorageConfig,
  SystemCommand,
  SystemResponse,
  TableSchema,
  TableType,
} from '../commands.js';
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
  /** Absent in snapshots written before the member list existed: no rows. */
  cluster_nodes?: ClusterNodeRow[];
}

interface ClusterNodeRow {
  node_id: number;
  rpc_addr: string;
  api_addr: string;
  state: string;
  created_at: number;
}

const NODE_COLUMNS = 'node_id, rpc_addr, api_addr, state, created_at';

/** The moves SetClusterNodeState may make; anything else is refused (CONFLICT), the same on every replica. */
export const CLUSTER_NODE_TRANSITIONS: Readonly<Record<ClusterNodeState, readonly ClusterNodeState[]>> = {
  joining: ['learner', 'leaving'],
  learner: ['voter', 'leaving'],
  voter: ['leaving'],
  leaving: ['removed'],
  removed: [],
};

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
      case 'SeedClusterNodes':
        return this.seedClusterNodes(cmd);
      case 'AddClusterNode':
        return this.addClusterNode(cmd);
      case 'SetClusterNodeState':
        return this.setClusterNodeState(cmd);
    }
  }

  /** Once per cluster: the first seed fills the empty list with voters; any later one (every node may send it) is a no-op. */
  private seedClusterNodes(cmd: Extract<SystemCommand, { type: 'SeedClusterNodes' }>): SystemResponse {
    if (this.clusterNodes().length > 0) return { type: 'Ok' };
    const insert = this.store.prepare(`INSERT INTO sys_cluster_nodes (${NODE_COLUMNS}) VALUES (?, ?, ?, 'voter', ?)`);
    for (const n of cmd.nodes) insert.run(n.nodeId, n.rpcAddr, n.apiAddr, cmd.createdAt);
    return { type: 'Ok' };
  }

  /**
   * A joining node gets the next id. A join retried from the same RPC address while that node is still joining
   * (its answer was lost) gets the same id back instead of a second row; an address a live member uses is refused.
   */
  private addClusterNode(cmd: Extract<SystemCommand, { type: 'AddClusterNode' }>): SystemResponse {
    const nodes = this.clusterNodes();
    if (nodes.length === 0) {
      throw new ApplyError('CONFLICT', 'the cluster has no member list yet; retry once it has started');
    }
    const same = nodes.find((n) => n.state !== 'removed' && n.rpcAddr === cmd.rpcAddr);
    if (same !== undefined && same.state === 'joining' && same.apiAddr === cmd.apiAddr) {
      return { type: 'ClusterNodeAdded', nodeId: same.nodeId, created: false };
    }
    const taken = nodes.find((n) => n.state !== 'removed' && (n.rpcAddr === cmd.rpcAddr || n.apiAddr === cmd.apiAddr));
    if (taken !== undefined) {
      throw new ApplyError(
        'ALREADY_EXISTS',
        `node ${taken.nodeId} (${taken.state}) already uses rpc_addr ${taken.rpcAddr} / api_addr ${taken.apiAddr}`,
      );
    }
    const nodeId = Math.max(...nodes.map((n) => n.nodeId)) + 1;
    this.store
      .prepare(`INSERT INTO sys_cluster_nodes (${NODE_COLUMNS}) VALUES (?, ?, ?, 'joining', ?)`)
      .run(nodeId, cmd.rpcAddr, cmd.apiAddr, cmd.createdAt);
    return { type: 'ClusterNodeAdded', nodeId, created: true };
  }

  private setClusterNodeState(cmd: Extract<SystemCommand, { type: 'SetClusterNodeState' }>): SystemResponse {
    const node = this.clusterNode(cmd.nodeId);
    if (node === undefined) throw new ApplyError('NOT_FOUND', `node ${cmd.nodeId} is not a member`);
    if (node.state !== cmd.from) {
      throw new ApplyError('CONFLICT', `node ${cmd.nodeId} is ${node.state}, not ${cmd.from}`);
    }
    if (!CLUSTER_NODE_TRANSITIONS[cmd.from].includes(cmd.to)) {
      throw new ApplyError('CONFLICT', `node ${cmd.nodeId} cannot go from ${cmd.from} to ${cmd.to}`);
    }
    this.store.prepare('UPDATE sys_cluster_nodes SET state = ? WHERE node_id = ?').run(cmd.to, cmd.nodeId);
    return { type: 'Ok' };
  }

  /** Every member ever, removed ones included, by id (system.cluster_nodes). */
  clusterNodes(): ClusterNodeRecord[] {
    return this.store
      .prepare<[], ClusterNodeRow>(`SELECT ${NODE_COLUMNS} FROM sys_cluster_nodes ORDER BY node_id`)
      .all()
      .map(nodeRecord);
  }

  clusterNode(nodeId: number): ClusterNodeRecord | undefined {
    const r = this.store
      .prepare<[number], ClusterNodeRow>(`SELECT ${NODE_COLUMNS} FROM sys_cluster_nodes WHERE node_id = ?`)
      .get(nodeId);
    return r === undefined ? undefined : nodeRecord(r);
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
      cluster_nodes: this.store
        .prepare(`SELECT ${NODE_COLUMNS} FROM sys_cluster_nodes ORDER BY node_id`)
        .all() as ClusterNodeRow[],
    };
  }

  /**
   * Replaces the catalog, namespaces and storages — and nothing else: rows, flushed files and the data groups' views
   * belong to the data groups, whose snapshots and entries may have come before or after this one on this node.
   */
  protected importState(state: unknown): void {
    const s = state as SystemState;
    this.store.db.exec(
      'DELETE FROM sys_namespaces; DELETE FROM sys_tables; DELETE FROM sys_table_versions; DELETE FROM sys_storages;' +
        ' DELETE FROM sys_cluster_nodes;',
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
    const cn = this.store.prepare(`INSERT INTO sys_cluster_nodes (${NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?)`);
    for (const r of s.cluster_nodes ?? []) cn.run(r.node_id, r.rpc_addr, r.api_addr, r.state, r.created_at);
    for (const live of this.catalog.tables()) this.store.physical.ensure(live);
    for (const r of s.tables) {
      if (r.dropped_index !== null)
        this.store.physical.dropIfEmpty({ tableId: r.table_id, incarnation: r.incarnation });
    }
  }
}

function nodeRecord(r: ClusterNodeRow): ClusterNodeRecord {
  return {
    nodeId: r.node_id,
    rpcAddr: r.rpc_addr,
    apiAddr: r.api_addr,
    state: r.state as ClusterNodeState,
    createdAt: r.created_at,
  };
}
