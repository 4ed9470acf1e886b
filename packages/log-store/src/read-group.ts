/**
 * Reading a group back, trusting nothing: every checksum is verified, the entries must be exactly
 * (offsetIndex, lastIndex] with terms that never decrease, and the state row, the snapshot and the log must
 * agree with each other. Any disagreement is a LogCorruptionError naming the group and the index.
 */
import { join } from 'node:path';

import type { ConfState, Entry, HardState, NodeId, Snapshot } from '@kalam/raft';
import { RaftError, decodeConfState } from '@kalam/raft';

import { confChecksum, entryChecksum, snapshotChecksum, stateChecksum } from './checksum.js';
import type { DurableState, StateRow } from './durable-state.js';
import { LogCorruptionError } from './errors.js';
import { kindOfCode } from './schema.js';
import { openSnapshotFile } from './snapshot-file.js';
import type { GroupStatements, SharedStatements } from './statements.js';
import type { GroupLogState } from './types.js';

/** The state row of a group, checksum and internal relations verified. */
export function readStateRow(shared: SharedStatements, groupId: number): StateRow {
  const raw = shared.readState.get(groupId);
  if (raw === undefined) throw new LogCorruptionError(groupId, 'state', 'the state row is missing');
  const [term, vote, commit, offsetIndex, offsetTerm, snapshotIndex, snapshotTerm, recovering, crc] = raw;
  const row: StateRow = { term, vote, commit, offsetIndex, offsetTerm, snapshotIndex, snapshotTerm, recovering };
  if (!Object.values(row).every(isCount)) {
    throw new LogCorruptionError(groupId, 'state', `a field is not a non-negative integer: ${JSON.stringify(row)}`);
  }
  const computed = stateChecksum(groupId, row);
  if (computed !== crc) {
    throw new LogCorruptionError(groupId, 'state', `checksum mismatch (stored ${crc}, computed ${computed})`);
  }
  const relation = brokenRelation(row);
  if (relation !== undefined) throw new LogCorruptionError(groupId, 'state', relation);
  return row;
}

/** The durable state of a group from its state row and its last entry (entries themselves unread). */
export function readDurableState(shared: SharedStatements, statements: GroupStatements, groupId: number): DurableState {
  const row = readStateRow(shared, groupId);
  const tail = statements.tail.get();
  if (tail === undefined) return { ...row, lastIndex: row.offsetIndex, lastTerm: row.offsetTerm };
  return { ...row, lastIndex: tail[0], lastTerm: tail[1] };
}

/** Everything a group recovers, fully verified, and the durable state it implies. */
export function readGroup(
  shared: SharedStatements,
  statements: GroupStatements,
  groupId: number,
  snapshotDir: string | undefined,
): { logState: GroupLogState; durable: DurableState } {
  const row = readStateRow(shared, groupId);
  const snapshot = readSnapshot(shared, groupId, row, snapshotDir);
  const entries = readEntries(statements, groupId, row);
  const last = entries[entries.length - 1];
  const durable: DurableState = {
    ...row,
    lastIndex: last?.index ?? row.offsetIndex,
    lastTerm: last?.term ?? row.offsetTerm,
  };
  if (row.commit > durable.lastIndex) {
    throw new LogCorruptionError(groupId, 'state', `commit ${row.commit} beyond the last entry ${durable.lastIndex}`);
  }
  const snapshotTermInLog =
    row.snapshotIndex === row.offsetIndex ? row.offsetTerm : entries[row.snapshotIndex - row.offsetIndex - 1]?.term;
  if (snapshot !== undefined && snapshotTermInLog !== row.snapshotTerm) {
    const detail = `the snapshot at ${row.snapshotIndex} has term ${row.snapshotTerm}, the log says ${snapshotTermInLog}`;
    throw new LogCorruptionError(groupId, 'snapshot', detail);
  }
  const hardState: HardState = {
    term: row.term,
    vote: row.vote as NodeId,
    commit: row.commit,
    ...(row.recovering === 1 ? { recovering: true as const } : {}),
  };
  const conf = readConf(shared, groupId);
  return {
    logState: { hardState, offsetIndex: row.offsetIndex, offsetTerm: row.offsetTerm, entries, snapshot, conf },
    durable,
  };
}

/** The group's raft_conf row, verified; undefined when there is none (the founding voters are in force). */
function readConf(shared: SharedStatements, groupId: number): GroupLogState['conf'] {
  const raw = shared.readConf.get(groupId);
  if (raw === undefined) return undefined;
  const [index, text, crc] = raw;
  if (!isCount(index) || confChecksum(groupId, index, text) !== crc) {
    throw new LogCorruptionError(groupId, 'state', `the configuration row fails its checksum (index ${index})`);
  }
  return { state: parseConf(groupId, text), index };
}

function parseConf(groupId: number, text: string): ConfState {
  try {
    return decodeConfState(text);
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof RaftError) {
      throw new LogCorruptionError(
        groupId,
        'state',
        `unreadable configuration ${JSON.stringify(text)}: ${err.message}`,
      );
    }
    throw err;
  }
}

/** The configuration a stored snapshot carries (format 4), as SnapshotMeta fields. */
function snapshotConf(
  groupId: number,
  conf: string | null,
  confIndex: number | null,
): { confState?: ConfState; confIndex?: number } {
  if (conf === null) return {};
  if (!isCount(confIndex)) throw new LogCorruptionError(groupId, 'snapshot', `bad conf_index ${String(confIndex)}`);
  return { confState: parseConf(groupId, conf), confIndex: confIndex! };
}

function readSnapshot(
  shared: SharedStatements,
  groupId: number,
  row: StateRow,
  snapshotDir: string | undefined,
): Snapshot | undefined {
  const raw = shared.readSnapshot.get(groupId);
  if (row.snapshotIndex === 0) {
    if (raw !== undefined)
      throw new LogCorruptionError(groupId, 'state', 'a snapshot is stored but the row names none');
    return undefined;
  }
  if (raw === undefined) {
    throw new LogCorruptionError(groupId, 'snapshot', `missing; the state row names index ${row.snapshotIndex}`);
  }
  const [index, term, data, crc, file, conf, confIndex] = raw;
  const meta = { index, term, ...snapshotConf(groupId, conf, confIndex) };
  if (file !== null) {
    if (snapshotDir === undefined || file.includes('/') || file.includes('\\')) {
      throw new LogCorruptionError(groupId, 'snapshot', `names the file ${JSON.stringify(file)}, which cannot be ours`);
    }
    if (index !== row.snapshotIndex || term !== row.snapshotTerm) {
      const detail = `stored at (${index}, ${term}) but the state row names (${row.snapshotIndex}, ${row.snapshotTerm})`;
      throw new LogCorruptionError(groupId, 'snapshot', detail);
    }
    return { ...meta, data: openSnapshotFile(groupId, join(snapshotDir, file), { index, term, crc32c: crc }) };
  }
  if (!(data instanceof Uint8Array) || snapshotChecksum(index, term, data) !== crc) {
    throw new LogCorruptionError(groupId, 'snapshot', `checksum mismatch (snapshot at index ${index}, term ${term})`);
  }
  if (index !== row.snapshotIndex || term !== row.snapshotTerm) {
    const detail = `stored at (${index}, ${term}) but the state row names (${row.snapshotIndex}, ${row.snapshotTerm})`;
    throw new LogCorruptionError(groupId, 'snapshot', detail);
  }
  return { ...meta, data };
}

function readEntries(statements: GroupStatements, groupId: number, row: StateRow): Entry[] {
  const entries: Entry[] = [];
  let expected = row.offsetIndex + 1;
  let prevTerm = row.offsetTerm;
  for (const [index, term, kindCode, payload, crc] of statements.readAll.iterate()) {
    if (index !== expected) {
      const detail =
        index > expected
          ? `entry missing: the log jumps from ${expected - 1} to ${index}`
          : `entry ${index} lies at or below the compaction offset ${row.offsetIndex}`;
      throw new LogCorruptionError(groupId, Math.min(index, expected), detail);
    }
    if (!(payload instanceof Uint8Array) || entryChecksum(index, term, kindCode, payload) !== crc) {
      throw new LogCorruptionError(groupId, index, `checksum mismatch (term ${term})`);
    }
    const kind = kindOfCode(kindCode);
    if (kind === undefined) throw new LogCorruptionError(groupId, index, `unknown entry kind ${kindCode}`);
    if (term < prevTerm) {
      throw new LogCorruptionError(groupId, index, `term ${term} is below the previous entry's term ${prevTerm}`);
    }
    if (term > row.term) {
      throw new LogCorruptionError(groupId, index, `term ${term} is beyond the current term ${row.term}`);
    }
    entries.push({ index, term, kind, data: payload });
    expected = index + 1;
    prevTerm = term;
  }
  return entries;
}

/** Relations every state row satisfies (see durable-state.ts), or a description of the broken one. */
function brokenRelation(row: StateRow): string | undefined {
  if (row.recovering > 1) return `recovering is ${row.recovering}, not 0 or 1`;
  if (row.snapshotIndex === 0) {
    // A log compacted without a snapshot (LogStore.compactLog) keeps any offset up to its commit index.
    if (row.snapshotTerm !== 0) return 'snapshot term set without a snapshot';
    if (row.offsetIndex === 0 && row.offsetTerm !== 0) return 'offset term set without an offset';
    if (row.offsetIndex > row.commit) return `offset ${row.offsetIndex} beyond commit ${row.commit}`;
    if (row.offsetTerm > row.term) return `offset term ${row.offsetTerm} beyond the current term ${row.term}`;
    return undefined;
  }
  if (row.offsetIndex > row.snapshotIndex) return `offset ${row.offsetIndex} beyond snapshot ${row.snapshotIndex}`;
  if (row.snapshotIndex > row.commit) return `snapshot ${row.snapshotIndex} beyond commit ${row.commit}`;
  if (row.offsetTerm > row.snapshotTerm || row.snapshotTerm > row.term) {
    return `terms out of order: offset ${row.offsetTerm}, snapshot ${row.snapshotTerm}, current ${row.term}`;
  }
  return undefined;
}

function isCount(n: unknown): boolean {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}
