/**
 * `kalam backup`: every group's snapshot from one node of a running cluster, into one file (format.ts).
 *
 * The cut (README "Backup and restore" has the proof): on ONE node, group after group — every data group, then
 * meta:jobs, meta:users, and meta:system LAST — the node takes a linearizable read point (ReadIndex) of the group and
 * a snapshot at an applied index at or past it (server backup.ts). So
 *   1. every write acknowledged before the backup started is in it: its entry was committed before the read point
 *      of its group was taken, so the read index is at or past it, and the snapshot at or past the read index;
 *   2. meta:system's snapshot covers every catalog change a data snapshot depends on: a data entry applies on a node
 *      only once that node's meta:system applied the entry's metaIndex (DESIGN.md §6), so a data snapshot's meta
 *      horizon is at most the node's meta:system applied index at that moment, and meta:system's snapshot, taken
 *      later on the same node, is at an applied index at least that (applied indexes never go back).
 * The snapshots are streamed into `<file>.part-<pid>` as they come (bounded memory), and the file is renamed only
 * once the manifest is written and fsynced: a failed backup leaves no file that looks like one.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { cliFetch } from '../cluster/tls.js';
import { CliError, usageError } from '../errors.js';
import type { Endpoint, SqlTarget } from '../sql-shell/target.js';
import { BACKUP_HEADER, backupTrailer } from './format.js';
import type { BackupGroup, BackupManifest } from './format.js';

/** Attempts per group when the node answers 503 (an election, a snapshot install under way). */
const GROUP_ATTEMPTS_MAX = 10;
const RETRY_DELAY_MS = 500;
/** How long one group's snapshot may take to arrive whole. */
const GROUP_TIMEOUT_MS = 300_000;
const STATUS_TIMEOUT_MS = 10_000;

export interface BackupProgress {
  /** One group is done: its entry, how many are done of how many. */
  group(g: BackupGroup, done: number, total: number): void;
}

export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  readonly manifest: BackupManifest;
}

interface StatusGroup {
  readonly group_id: number;
  readonly name: string;
}

/** The order of the cut: data groups (ids ≥ 100) by id, then meta:jobs, meta:users, meta:system last. */
export function cutOrder<G extends StatusGroup>(groups: readonly G[]): G[] {
  const data = groups.filter((g) => g.group_id >= 100).sort((a, b) => a.group_id - b.group_id);
  const meta = groups.filter((g) => g.group_id < 100).sort((a, b) => b.group_id - a.group_id);
  return [...data, ...meta];
}

/** `--to`: a directory gets `<cluster id>-<UTC time>.kalam-backup` inside it; anything else is the file. */
export function backupPath(to: string, clusterId: string | null, now: Date): string {
  const path = resolve(to);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) return path;
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return join(path, `${clusterId ?? 'kalam'}-${stamp}.kalam-backup`);
}

function authHeader(target: SqlTarget): string {
  return `Basic ${Buffer.from(`${target.user}:${target.password}`).toString('base64')}`;
}

/** The first endpoint that answers the cluster status, with its status: the node every snapshot comes from. */
async function pickNode(
  target: SqlTarget,
): Promise<{ endpoint: Endpoint; clusterId: string | null; nodeId: number; groups: StatusGroup[] }> {
  const errors: string[] = [];
  for (const endpoint of target.endpoints) {
    try {
      const res = await cliFetch(`${endpoint.apiUrl}/v1/api/cluster/status`, {
        headers: { authorization: authHeader(target) },
        signal: AbortSignal.timeout(STATUS_TIMEOUT_MS),
      });
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) {
        const err = body['error'] as { code?: string; message?: string } | undefined;
        errors.push(`${endpoint.apiUrl}: ${res.status} ${err?.code ?? ''} ${err?.message ?? ''}`.trim());
        continue;
      }
      return {
        endpoint,
        clusterId: (body['cluster_id'] as string | null) ?? null,
        nodeId: body['node_id'] as number,
        groups: (body['groups'] as StatusGroup[]).map((g) => ({ group_id: g.group_id, name: g.name })),
      };
    } catch (err) {
      errors.push(`${endpoint.apiUrl}: ${(err as Error).message}`);
    }
  }
  throw new CliError('BACKUP_FAILED', `no node of ${target.label} answered: ${errors.join('; ')}`);
}

/** Takes the backup into `file` (see the file comment). */
export async function takeBackup(target: SqlTarget, to: string, progress?: BackupProgress): Promise<BackupResult> {
  const startedAt = new Date();
  const node = await pickNode(target);
  const file = backupPath(to, node.clusterId, startedAt);
  if (existsSync(file)) throw usageError(`${file} exists: a backup never overwrites a file`);
  const part = `${file}.part-${process.pid}`;
  const order = cutOrder(node.groups);
  const groups: BackupGroup[] = [];
  let fd: number;
  try {
    fd = openSync(part, 'wx', 0o600);
  } catch (err) {
    throw usageError(`cannot write the backup at ${file}: ${(err as Error).message}`);
  }
  try {
    writeSync(fd, BACKUP_HEADER);
    closeSync(fd);
    let offset = Buffer.byteLength(BACKUP_HEADER);
    for (const g of order) {
      const got = await fetchGroup(target, node.endpoint, g, part, offset);
      groups.push(got);
      offset += got.bytes;
      progress?.group(got, groups.length, order.length);
    }
    const manifest: BackupManifest = {
      format: 'kalam-backup',
      version: 1,
      cluster_id: node.clusterId,
      node_id: node.nodeId,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      groups,
    };
    const out = openSync(part, 'r+');
    try {
      writeSync(out, backupTrailer(manifest), offset);
      fsyncSync(out);
    } finally {
      closeSync(out);
    }
    renameSync(part, file);
    return { file, bytes: statSync(file).size, manifest };
  } catch (err) {
    rmSync(part, { force: true });
    throw err;
  }
}

/** One group's snapshot appended to `part` at `offset`, retried on 503; its sha256 checked against the node's. */
async function fetchGroup(
  target: SqlTarget,
  endpoint: Endpoint,
  g: StatusGroup,
  part: string,
  offset: number,
): Promise<BackupGroup> {
  for (let attempt = 1; ; attempt++) {
    const res = await cliFetch(`${endpoint.apiUrl}/v1/api/backup/snapshot?group=${g.group_id}`, {
      headers: { authorization: authHeader(target) },
      signal: AbortSignal.timeout(GROUP_TIMEOUT_MS),
    }).catch((err: unknown) => {
      throw new CliError('BACKUP_FAILED', `${endpoint.apiUrl} did not send ${g.name}: ${(err as Error).message}`);
    });
    if (res.status === 503 && attempt < GROUP_ATTEMPTS_MAX) {
      await res.body?.cancel();
      await sleep(RETRY_DELAY_MS);
      continue;
    }
    if (res.status !== 200 || res.body === null) {
      const text = await res.text();
      throw new CliError('BACKUP_FAILED', `${endpoint.apiUrl} refused ${g.name}: ${res.status} ${text.slice(0, 300)}`);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    // Appends at `offset`: a retry after a cut body rewrites from there.
    const sink = createWriteStream(part, { flags: 'r+', start: offset });
    try {
      await pipeline(Readable.fromWeb(res.body), count, sink);
    } catch (err) {
      throw new CliError('BACKUP_FAILED', `${g.name} was cut off after ${bytes} bytes: ${(err as Error).message}`);
    }
    const header = (name: string): number => Number(res.headers.get(name));
    const sha256 = hash.digest('hex');
    if (bytes !== header('content-length') || sha256 !== res.headers.get('x-kalam-sha256')) {
      throw new CliError('BACKUP_FAILED', `${g.name} arrived damaged (${bytes} bytes, sha256 ${sha256})`);
    }
    return {
      group_id: g.group_id,
      name: g.name,
      index: header('x-kalam-index'),
      term: header('x-kalam-term'),
      read_index: header('x-kalam-read-index'),
      offset,
      bytes,
      sha256,
    };
  }
}
