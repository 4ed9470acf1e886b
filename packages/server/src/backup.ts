/**
 * One group's snapshot for `kalam backup` (issue [M10] §3): GET /v1/api/backup/snapshot?group=N, root only.
 *
 * The node first takes a linearizable read point of the group (ReadIndex: RaftManager.read resolves once this node
 * has applied at least the index the leader confirmed with a quorum), then builds the group's snapshot with the
 * machinery followers get theirs from — the state machine's snapshotBuilder over a read view of data.db (a data
 * group's rows and flushed files, paged), or snapshot() for the small meta groups — into a file beside the node's
 * data (a bounded buffer: memory does not grow with the group's size), and streams that file to the caller with
 * backpressure. Applies go on meanwhile: nothing stops the world.
 *
 * Headers of the answer: X-Kalam-Group, X-Kalam-Index and X-Kalam-Term (the applied entry the snapshot is of),
 * X-Kalam-Read-Index (the read point; index ≥ it), X-Kalam-Sha256 (of the body), Content-Length.
 *
 * The cut across groups is the caller's (packages/cli/src/backup/): it asks for the groups one after another, on
 * one node, meta:system last. README "Backup and restore" has the argument.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import { KalamError, toKalamError } from '@kalam/kalamdb';
import type { SnapshotOutput, StateMachine } from '@kalam/multiraft';

import type { RunningNode } from './runtime.js';

export const BACKUP_PATH = '/v1/api/backup/snapshot';

/** How long one build step may hold the event loop before the node's driver and requests get a turn. */
const BUILD_STEP_MS = 20;
/** How long the read point may take (an election in between is fine; a cluster without quorum is not). */
const READ_TIMEOUT_MS = 10_000;

/** How much a snapshot being built gathers in memory before it is written to its file. */
const BUFFER_BYTES = 1024 * 1024;

/** The folder backups are built in, per node: emptied the first time a backup runs after the node started. */
const buildDirs = new WeakMap<RunningNode, { dir: string; builds: number }>();

function buildPath(node: RunningNode, groupId: number): string {
  let at = buildDirs.get(node);
  if (at === undefined) {
    at = { dir: join(node.config.server.dataDir, 'backup-build'), builds: 0 };
    rmSync(at.dir, { recursive: true, force: true }); // copies a crash left behind: nothing reads them
    mkdirSync(at.dir, { recursive: true, mode: 0o700 });
    buildDirs.set(node, at);
  }
  return join(at.dir, `${groupId}-${++at.builds}.snap`);
}

/** A snapshot's bytes into a file through a bounded buffer, hashed as they pass (sha256 of the whole file). */
class FileOutput implements SnapshotOutput {
  readonly hash = createHash('sha256');
  bytes = 0;
  private readonly fd: number;
  private buffer = Buffer.alloc(BUFFER_BYTES);
  private buffered = 0;
  private open = true;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w', 0o600);
  }

  write(bytes: Uint8Array): void {
    this.hash.update(bytes);
    if (this.buffered + bytes.length > this.buffer.length) this.flush();
    if (bytes.length >= this.buffer.length) this.writeOut(bytes);
    else {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
    }
  }

  finish(): { byteLength: number; subarray(): Uint8Array } {
    this.flush();
    this.close();
    return { byteLength: this.bytes, subarray: () => new Uint8Array(0) }; // read back by the stream, not here
  }

  abort(): void {
    this.close();
    rmSync(this.path, { force: true });
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
    this.buffer = Buffer.alloc(0);
  }

  private flush(): void {
    if (this.buffered === 0) return;
    this.writeOut(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }

  private writeOut(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at, bytes.length - at);
    this.bytes += bytes.length;
  }
}

export interface GroupSnapshotInfo {
  readonly groupId: number;
  readonly index: number;
  readonly term: number;
  readonly readIndex: number;
  readonly bytes: number;
  readonly sha256: string;
  /** The file the snapshot is in; the caller deletes it. */
  readonly path: string;
}

/** The state machine of group `groupId` on this node (the layout of its [cluster.sharding]). */
function stateMachineOf(node: RunningNode, groupId: number): StateMachine {
  const spec = node.machines.groupSpecs().find((g) => g.id === groupId);
  if (spec === undefined) {
    const ids = node.machines.groupSpecs().map((g) => g.id);
    throw new KalamError('INVALID_INPUT', `no group ${groupId} on this node (its groups: ${ids.join(', ')})`);
  }
  return spec.stateMachine;
}

/** Parses `?group=N` of the request URL. */
export function groupOfUrl(url: string): number {
  const query = new URLSearchParams(url.split('?', 2)[1] ?? '');
  const raw = query.get('group');
  const id = raw === null ? NaN : Number(raw);
  if (!Number.isSafeInteger(id) || id < 0) throw new KalamError('INVALID_INPUT', 'give the group as ?group=N');
  return id;
}

/**
 * Builds the snapshot of `groupId` at an applied index at or past a linearizable read point taken now, into a file.
 */
export async function buildGroupSnapshot(node: RunningNode, groupId: number): Promise<GroupSnapshotInfo> {
  const sm = stateMachineOf(node, groupId);
  let readIndex: number;
  try {
    readIndex =
      node.manager === undefined ? sm.appliedIndex() : await node.manager.read(groupId, { timeoutMs: READ_TIMEOUT_MS });
  } catch (err) {
    throw toKalamError(err);
  }
  if (sm.installPending?.() !== undefined) {
    throw new KalamError('CLUSTER_UNAVAILABLE', `group ${groupId} is installing a snapshot on this node; try again`);
  }
  const output = new FileOutput(buildPath(node, groupId));
  try {
    // The builder reads its index from its read view; the term of that entry is read in the same synchronous step,
    // so no apply can come between.
    const builder = sm.snapshotBuilder?.(output);
    const index = builder?.index ?? sm.appliedIndex();
    const term = appliedTerm(node, groupId, index);
    if (builder === undefined) {
      output.write(sm.snapshot());
      output.finish();
    } else {
      try {
        while (builder.step(BUILD_STEP_MS) === undefined) await new Promise((resolve) => setImmediate(resolve));
      } finally {
        builder.close();
      }
    }
    if (index < readIndex)
      throw new Error(`group ${groupId}: snapshot at ${index}, behind the read point ${readIndex}`);
    const sha256 = output.hash.digest('hex');
    return { groupId, index, term, readIndex, bytes: output.bytes, sha256, path: output.path };
  } catch (err) {
    output.abort();
    throw err;
  }
}

/** The term of the group's applied entry, which must be `index` (read in the step that fixed the snapshot's index). */
function appliedTerm(node: RunningNode, groupId: number, index: number): number {
  const row = node.store
    .prepare<[number], { applied_index: number; applied_term: number }>(
      'SELECT applied_index, applied_term FROM group_applied WHERE group_id = ?',
    )
    .get(groupId);
  if (row === undefined) return 0; // nothing applied yet: index 0, term 0
  if (row.applied_index !== index)
    throw new Error(`group ${groupId}: applied ${row.applied_index}, snapshot at ${index}`);
  return row.applied_term;
}

/** Builds the snapshot and streams it as the answer (headers above); the file goes whatever happens. */
export async function sendGroupSnapshot(node: RunningNode, groupId: number, res: ServerResponse): Promise<void> {
  const info = await buildGroupSnapshot(node, groupId);
  try {
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(info.bytes),
      'x-kalam-group': String(info.groupId),
      'x-kalam-index': String(info.index),
      'x-kalam-term': String(info.term),
      'x-kalam-read-index': String(info.readIndex),
      'x-kalam-sha256': info.sha256,
    });
    await pipeline(createReadStream(info.path), res);
  } finally {
    rmSync(info.path, { force: true });
  }
}
