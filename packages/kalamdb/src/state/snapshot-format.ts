/**
 * The snapshot format of every Kalam state machine (version 3): a stream of bounded records, one canonical JSON
 * object per line (JSON never holds a raw newline), so that a snapshot is built and installed a page at a time —
 * never as one object graph or one string of the whole state (issue [M8] §3):
 *
 *   {"format":"kalam-snapshot","groupId":N,"version":3}      the header
 *   {"kind":"state",...} / {"kind":"rows",...} …               the state machine's records (rows come in pages)
 *   {"crc":"<sha-256 of every byte before this line>","end":true,"records":K}
 *
 * A reader checks the header, the record count and the checksum over the whole stream before it hands out a single
 * record, so a corrupt or truncated snapshot is refused (SnapshotFormatError) before anything is installed.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import type { Database } from 'better-sqlite3';

import { canonicalJson } from '../codec.js';

export const SNAPSHOT_VERSION = 3;
const FORMAT = 'kalam-snapshot';
const NEWLINE = 0x0a;

/** Rows of one table per record: a page's objects are all that restore holds at once. */
export const SNAPSHOT_ROWS_PER_PAGE = 256;

export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
  readonly code = 'SNAPSHOT_CORRUPT';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds a snapshot record by record (each encoded at once: the records' objects are not kept). */
export class SnapshotWriter {
  private readonly parts: Uint8Array[] = [];
  private readonly hash = createHash('sha256');
  private records = 0;
  bytes = 0;

  constructor(groupId: number) {
    this.line({ format: FORMAT, groupId, version: SNAPSHOT_VERSION });
  }

  record(value: Record<string, unknown>): void {
    this.line(value);
    this.records++;
  }

  /** The whole snapshot: header, records, trailer. */
  finish(): Uint8Array {
    const trailer = encoder.encode(
      `${canonicalJson({ crc: this.hash.digest('hex'), end: true, records: this.records })}\n`,
    );
    const out = new Uint8Array(this.bytes + trailer.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    out.set(trailer, at);
    this.parts.length = 0;
    return out;
  }

  private line(value: Record<string, unknown>): void {
    const bytes = encoder.encode(`${canonicalJson(value)}\n`);
    this.hash.update(bytes);
    this.parts.push(bytes);
    this.bytes += bytes.length;
  }
}

/**
 * The records of a snapshot of `groupId`, verified first (header, trailer, record count, checksum); they are parsed
 * one at a time as the caller iterates. Throws SnapshotFormatError naming what is wrong.
 */
export function snapshotRecords(data: Uint8Array, groupId: number): Iterable<Record<string, unknown>> {
  const fail = (what: string): never => {
    throw new SnapshotFormatError(`the snapshot of group ${groupId} (${data.length} bytes) is refused: ${what}`);
  };
  const headerEnd = data.indexOf(NEWLINE);
  if (headerEnd < 0) fail('no header line');
  const header = parseLine(data, 0, headerEnd, fail);
  if (header['format'] !== FORMAT) fail('not a Kalam snapshot');
  if (header['version'] !== SNAPSHOT_VERSION)
    fail(`format version ${String(header['version'])}, this Kalam reads ${SNAPSHOT_VERSION}`);
  if (header['groupId'] !== groupId) fail(`it is a snapshot of group ${String(header['groupId'])}`);
  if (data[data.length - 1] !== NEWLINE) fail('truncated (no trailer)');
  const trailerStart = data.lastIndexOf(NEWLINE, data.length - 2) + 1;
  if (trailerStart <= headerEnd) fail('truncated (no trailer)');
  const trailer = parseLine(data, trailerStart, data.length - 1, fail);
  if (trailer['end'] !== true) fail('truncated (no trailer)');
  const crc = createHash('sha256').update(data.subarray(0, trailerStart)).digest('hex');
  if (trailer['crc'] !== crc) fail('checksum mismatch (corrupt)');
  let count = 0;
  for (let at = headerEnd + 1; at < trailerStart; at = data.indexOf(NEWLINE, at) + 1) count++;
  if (trailer['records'] !== count) fail(`${count} records, the trailer says ${String(trailer['records'])}`);
  return {
    *[Symbol.iterator]() {
      for (let at = headerEnd + 1; at < trailerStart;) {
        const end = data.indexOf(NEWLINE, at);
        yield parseLine(data, at, end, fail);
        at = end + 1;
      }
    },
  };
}

function parseLine(data: Uint8Array, from: number, to: number, fail: (what: string) => never): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data.subarray(from, to)));
  } catch {
    fail(`a record at byte ${from} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`the record at byte ${from}`);
  return value as Record<string, unknown>;
}

/**
 * Writes the rows of a snapshot's tables as `{kind: 'rows', table, rows}` pages, table by table, reading each by a
 * cursor on `db` (a statement of its own: DataStore's cached ones are never iterated), a budget of time at a time.
 */
export class RowPager {
  private table = 0;
  private cursor: Iterator<unknown> | undefined;

  constructor(
    private readonly db: Database,
    private readonly out: SnapshotWriter,
    private readonly queries: readonly string[],
    private readonly args: readonly (string | number)[],
  ) {}

  /** Pages until every table is written (true) or `budgetMs` has passed (false: call again). */
  step(budgetMs: number): boolean {
    const end = performance.now() + budgetMs;
    while (this.table < this.queries.length) {
      this.cursor ??= this.db.prepare(this.queries[this.table]!).iterate(...this.args);
      const page: unknown[] = [];
      let done = false;
      while (page.length < SNAPSHOT_ROWS_PER_PAGE) {
        const next = this.cursor.next();
        if (next.done === true) {
          done = true;
          break;
        }
        page.push(next.value);
      }
      if (page.length > 0) this.out.record({ kind: 'rows', rows: page, table: this.table });
      if (done) {
        this.cursor = undefined;
        this.table++;
      }
      if (performance.now() >= end && this.table < this.queries.length) return false;
    }
    return true;
  }

  /** Stops early: the open cursor, if any, is released. */
  close(): void {
    this.cursor?.return?.();
    this.cursor = undefined;
  }
}
