/**
 * `kalam restore FILE --into DIR [--nodes N]`: a NEW cluster folder (what `kalam cluster up --dir DIR` starts) whose
 * every node begins from the backup, like `etcdctl snapshot restore`.
 *
 * How a node is seeded: for each group, the backup's snapshot is written into the node's snapshots folder through
 * the sink a follower receives a leader's snapshot with (log-store SnapshotFiles.sink: checksummed, fsynced, named
 * `<group>-<index>-<term>.snap`), and raft.db gets, in one transaction, what a follower stores when it takes one: the
 * snapshot row at (index, term), the log empty behind it, hard state (term, no vote, commit = index), and the group's
 * configuration — rewritten to the NEW cluster's voters 1..N, at the snapshot's index. At its first start the node
 * finds data.db behind raft.db's snapshot and installs it (RaftDriver.recoverGroups), as after a crash mid-install.
 * Every node holds the same (index, term) per group, so the new cluster elects leaders from equal logs.
 *
 * meta:system's snapshot is rewritten on the way: its member list (system.cluster_nodes) becomes the new nodes, all
 * voters, so the reconciler sees a cluster that matches the group configurations. Everything else — catalog, users
 * and their passwords, jobs, rows, flushed files — is the backup's. The new cluster gets a new cluster id and secret;
 * root's password is the backed-up cluster's (the caller gives it: the folder's credentials must work).
 *
 * Nothing is written before the whole backup checked out (format.ts openBackup, and meta:system's snapshot read in
 * full); the folder is built as `<DIR>.restoring-<pid>` beside DIR and renamed to DIR at the end, so a failure leaves
 * nothing at DIR.
 */
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { DEFAULT_SHARDING, SnapshotWriter, allGroups, groupNumber, snapshotRecords } from '@kalam/kalamdb';
import { LogStore, SnapshotFiles } from '@kalam/log-store';
import type { GroupWrite } from '@kalam/log-store';
import type { ConfState, NodeId } from '@kalam/raft';

import {
  checkClusterName,
  folderFiles,
  readCredentials,
  writeClusterFolder,
  writeSecretFile,
} from '../cluster/folder.js';
import type { ClusterManifest } from '../cluster/types.js';
import { CliError } from '../errors.js';
import { BackupCorruptError, openBackup } from './format.js';
import type { BackupGroup, BackupManifest, OpenBackup } from './format.js';

/** Bytes copied into a node's snapshot file at a time. */
const COPY_BYTES = 1024 * 1024;
const META_SYSTEM = 0;

export interface RestoreOptions {
  readonly file: string;
  readonly into: string;
  readonly nodes: number;
  readonly basePort: number;
  /** Root's password in the backed-up cluster. */
  readonly password: string;
  readonly name?: string;
  readonly onProgress?: (line: string) => void;
}

export interface RestoreResult {
  readonly dir: string;
  readonly cluster: ClusterManifest;
  readonly backup: BackupManifest;
}

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const into = resolve(opts.into);
  if (existsSync(into) && readdirSync(into).length > 0) {
    throw new CliError('RESTORE_TARGET', `${into} exists and is not empty: restore makes a new cluster folder`);
  }
  const backup = await openBackup(resolve(opts.file), (done, total) => {
    if (done === total || done % 8 === 0) opts.onProgress?.(`verified ${done}/${total} group snapshots`);
  });
  checkLayout(backup);
  const system = systemRecords(backup);
  checkCut(backup, system, (done, total) => {
    if (done === total || done % 8 === 0) opts.onProgress?.(`checked the cut: ${done}/${total} data groups`);
  });
  const name = checkClusterName(opts.name ?? basename(into));
  const tmp = `${into}.restoring-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const staged = writeClusterFolder({ name, dir: tmp }, opts.nodes, opts.basePort);
    keepRootPassword(tmp, opts.password);
    const voters = staged.nodes.map((n) => n.id as NodeId);
    const systemBytes = rewriteSystem(system, staged);
    for (const node of staged.nodes) {
      seedNode(node.dataDir, backup, voters, systemBytes);
      opts.onProgress?.(`seeded node ${node.id} (${backup.manifest.groups.length} groups)`);
    }
    relocate(tmp, into);
    if (existsSync(into)) rmdirSync(into); // empty (checked above)
    renameSync(tmp, into);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const cluster = JSON.parse(readFileSync(folderFiles.manifest(into), 'utf8')) as ClusterManifest;
  return { dir: into, cluster, backup: backup.manifest };
}

/** The backup must hold exactly the groups of the layout a new cluster folder runs (the default sharding). */
function checkLayout(backup: OpenBackup): void {
  const want = allGroups(DEFAULT_SHARDING)
    .map(groupNumber)
    .sort((a, b) => a - b);
  const have = backup.manifest.groups.map((g) => g.group_id).sort((a, b) => a - b);
  if (want.join(',') !== have.join(',')) {
    throw new CliError(
      'RESTORE_TARGET',
      `the backup holds groups ${have.join(', ')}, a new cluster folder runs ${want.join(', ')} (the default sharding)`,
    );
  }
}

function groupOf(backup: OpenBackup, id: number): BackupGroup {
  const g = backup.manifest.groups.find((x) => x.group_id === id);
  if (g === undefined) throw new BackupCorruptError(backup.file, `no snapshot of group ${id}`);
  return g;
}

/** meta:system's records, read and verified whole (the catalog and member list: small). */
function systemRecords(backup: OpenBackup): Record<string, unknown>[] {
  const g = groupOf(backup, META_SYSTEM);
  try {
    return [...snapshotRecords({ byteLength: g.bytes, subarray: (b, e) => backup.read(g, b, e) }, META_SYSTEM)];
  } catch (err) {
    throw new BackupCorruptError(backup.file, `meta:system's snapshot: ${(err as Error).message}`);
  }
}

/**
 * The cut's promise, checked on the bytes (README "Backup and restore"): every data group's meta horizon is at or
 * behind meta:system's snapshot index, and every table incarnation in a data group's view is in meta:system's
 * catalog — so the restored meta knows every table the restored rows belong to. Each data snapshot is read whole
 * here (its format, record count and inner checksum verified), a piece at a time. A backup that fails is refused.
 */
export function checkCut(
  backup: OpenBackup,
  system: readonly Record<string, unknown>[],
  onProgress?: (done: number, total: number) => void,
): void {
  const meta = groupOf(backup, META_SYSTEM);
  const state = system.find((r) => r['kind'] === 'state')?.['state'] as
    { tables?: { table_id: string; incarnation: number }[] } | undefined;
  const known = new Set((state?.tables ?? []).map((t) => `${t.table_id}#${t.incarnation}`));
  const data = backup.manifest.groups.filter((g) => g.group_id >= 100);
  data.forEach((g, i) => {
    let view: { horizon: number; tables: { tableId: string; incarnation: number }[] } | undefined;
    try {
      const records = snapshotRecords({ byteLength: g.bytes, subarray: (b, e) => backup.read(g, b, e) }, g.group_id);
      // snapshotRecords verified the whole stream already; the state record comes first.
      for (const r of records) {
        view = (r['state'] as { view: typeof view } | undefined)?.view;
        break;
      }
    } catch (err) {
      throw new BackupCorruptError(backup.file, `${g.name}'s snapshot: ${(err as Error).message}`);
    }
    if (view === undefined) throw new BackupCorruptError(backup.file, `${g.name}'s snapshot has no view`);
    if (view.horizon > meta.index) {
      throw new BackupCorruptError(
        backup.file,
        `the cut is inconsistent: ${g.name} depends on meta:system index ${view.horizon}, its snapshot is at ${meta.index}`,
      );
    }
    const unknown = view.tables.find((t) => !known.has(`${t.tableId}#${t.incarnation}`));
    if (unknown !== undefined) {
      throw new BackupCorruptError(
        backup.file,
        `the cut is inconsistent: ${g.name} has table ${unknown.tableId} (incarnation ${unknown.incarnation}), meta:system does not`,
      );
    }
    onProgress?.(i + 1, data.length);
  });
}

/** meta:system's snapshot with the new cluster's member list: every node a voter, at its new addresses. */
function rewriteSystem(records: readonly Record<string, unknown>[], cluster: ClusterManifest): Uint8Array {
  const createdAt = Date.now();
  const w = new SnapshotWriter(META_SYSTEM);
  for (const r of records) {
    if (r['kind'] !== 'state') {
      w.record(r);
      continue;
    }
    const state = r['state'] as Record<string, unknown>;
    const clusterNodes = cluster.nodes.map((n) => ({
      node_id: n.id,
      rpc_addr: n.rpcAddr,
      api_addr: n.apiUrl,
      state: 'voter',
      created_at: createdAt,
    }));
    w.record({ ...r, state: { ...state, cluster_nodes: clusterNodes } });
  }
  return w.finishInMemory();
}

/** One node's raft.db and snapshot files (see the file comment). */
function seedNode(dataDir: string, backup: OpenBackup, voters: readonly NodeId[], systemBytes: Uint8Array): void {
  const files = new SnapshotFiles(join(dataDir, 'snapshots'));
  const conf: ConfState = { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
  const writes: GroupWrite[] = [];
  for (const g of backup.manifest.groups) {
    if (g.index === 0) continue; // a group that never applied anything: it starts like a new cluster's
    // A standalone node applies without Raft, at term 0; a log position needs a term ≥ 1, and any one does as long
    // as every node of the new cluster starts from the same (index, term).
    const term = Math.max(1, g.term);
    const meta = { index: g.index, term, confState: conf, confIndex: g.index };
    const bytes = g.group_id === META_SYSTEM ? systemBytes.length : g.bytes;
    const read = (b: number, e: number): Uint8Array =>
      g.group_id === META_SYSTEM ? systemBytes.subarray(b, e) : backup.read(g, b, e);
    const sink = files.sink(g.group_id)(meta, bytes);
    try {
      for (let at = 0; at < bytes; at += COPY_BYTES) sink.write(at, read(at, Math.min(bytes, at + COPY_BYTES)));
    } catch (err) {
      sink.abort();
      throw err;
    }
    const data = sink.finish();
    writes.push({
      groupId: g.group_id,
      hardState: { term, vote: 0 as NodeId, commit: g.index },
      entries: [],
      snapshot: { ...meta, data },
      confState: { state: conf, index: g.index },
    });
  }
  const store = LogStore.open({
    path: join(dataDir, 'raft.db'),
    groupIds: backup.manifest.groups.map((g) => g.group_id),
  });
  try {
    store.write(writes);
  } finally {
    store.close();
  }
}

/**
 * The folder got a new random root password; the restored meta:users holds the backed-up root's, so that one goes into
 * credentials.json and every node config (`[auth] root_password`, which only creates root on a cluster without one).
 */
function keepRootPassword(dir: string, password: string): void {
  const credentials = readCredentials(dir);
  writeSecretFile(folderFiles.credentials(dir), `${JSON.stringify({ ...credentials, password }, null, 2)}\n`);
  const from = `root_password = ${JSON.stringify(credentials.password)}`;
  const to = `root_password = ${JSON.stringify(password)}`;
  for (const f of readdirSync(join(dir, 'nodes'))) {
    const file = join(dir, 'nodes', f);
    writeSecretFile(file, readFileSync(file, 'utf8').split(from).join(to));
  }
}

/** The folder was written at `from`; its manifest and configs name paths under `to`, where it is renamed next. */
function relocate(from: string, to: string): void {
  const escaped = (p: string): string => JSON.stringify(p).slice(1, -1);
  const files = [folderFiles.manifest(from), ...readdirSync(join(from, 'nodes')).map((f) => join(from, 'nodes', f))];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    writeSecretFile(file, text.split(escaped(from)).join(escaped(to)));
  }
}
