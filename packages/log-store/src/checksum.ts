/**
 * CRC-32C checksums of what the store writes. Every integer is hashed as an unsigned 64-bit little-endian
 * word, so the checksum is a function of the values, not of how SQLite happens to store them:
 *
 *   entry     crc32c(index u64 ‖ term u64 ‖ kind u8 ‖ payload)
 *   snapshot  crc32c(index u64 ‖ term u64 ‖ data)
 *   state row crc32c(group_id ‖ term ‖ vote ‖ commit ‖ offset_index ‖ offset_term ‖ snapshot_index ‖
 *                    snapshot_term [‖ recovering]), each u64; `recovering` only when it is 1, so that every
 *                    row written by format 1 (which had no such column) keeps its checksum
 *
 * The header words go through one preallocated scratch buffer: this runs once per entry on the write path.
 */
import { crc32c } from '@node-rs/crc32';

import type { StateRow } from './durable-state.js';

const TWO_TO_32 = 0x1_0000_0000;
const scratch = new Uint8Array(64);
const view = new DataView(scratch.buffer);
const entryHeader = scratch.subarray(0, 17);
const snapshotHeader = scratch.subarray(0, 16);
const stateHeader = scratch.subarray(0, 64);
const RECOVERING_WORD = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

function putU64(offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_TO_32) >>> 0, true);
}

export function entryChecksum(index: number, term: number, kindCode: number, payload: Uint8Array): number {
  putU64(0, index);
  putU64(8, term);
  view.setUint8(16, kindCode);
  return crc32c(payload, crc32c(entryHeader));
}

export function snapshotChecksum(index: number, term: number, data: Uint8Array): number {
  return crc32c(data, snapshotChecksumStart(index, term));
}

/** The snapshot checksum before any data: fold the bytes in with crc32c(bytes, crc), piece by piece, in order. */
export function snapshotChecksumStart(index: number, term: number): number {
  putU64(0, index);
  putU64(8, term);
  return crc32c(snapshotHeader);
}

const textEncoder = new TextEncoder();

/** The raft_conf row: crc32c(group_id u64 ‖ conf_index u64 ‖ conf as UTF-8). */
export function confChecksum(groupId: number, confIndex: number, conf: string): number {
  putU64(0, groupId);
  putU64(8, confIndex);
  return crc32c(textEncoder.encode(conf), crc32c(snapshotHeader));
}

export function stateChecksum(groupId: number, row: StateRow): number {
  putU64(0, groupId);
  putU64(8, row.term);
  putU64(16, row.vote);
  putU64(24, row.commit);
  putU64(32, row.offsetIndex);
  putU64(40, row.offsetTerm);
  putU64(48, row.snapshotIndex);
  putU64(56, row.snapshotTerm);
  const crc = crc32c(stateHeader);
  return row.recovering === 0 ? crc : crc32c(RECOVERING_WORD, crc);
}
