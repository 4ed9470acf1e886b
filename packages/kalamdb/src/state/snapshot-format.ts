/**
 * The snapshot format of every Kalam state machine (version 6): a stream of bounded records, one canonical JSON
 * object per line (JSON never holds a raw newline), so that a snapshot is built and installed a page at a time —
 * never as one object graph or one string of the whole state (issue [M8] §3):
 *
 *   {"format":"kalam-snapshot","groupId":N,"version":6}      the header
 *   {"kind":"state",...} / {"kind":"rows",...} …               the state machine's records (rows come in pages)
 *   {"kind":"cold","scope":i,"file":j,"rows":[…]} …            a data group's flushed rows, in pages (version 4)
 *   {"kind":"client-sessions","table":0|1,"rows":[…]} …        a data group's client sessions, answers (version 5)
 *   {"kind":"changes","table":0,"rows":[…]} …                  a data group's change log, in pages (version 6)
 *   {"crc":"<sha-256 of every byte before this line>","end":true,"records":K}
 *
 * A reader checks the header, the record count and the checksum over the whole stream before it hands out a single
 * record, so a corrupt or truncated snapshot is refused (SnapshotFormatError) before anything is installed.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import type { Database } from 'better-sqlite3';

import { canonicalJson } from '../codec.js';

export const SNAPSHOT_VERSION = 6;
/**
 * The versions a reader takes. Version 3 carried a data group's flushed rows inside its state record; version 4 pages
 * them in records of their own (`{kind: 'cold', …}`), so that the state record does not grow with them. A node reads
 * both, because a cluster upgraded one node at a time has leaders of the old version sending snapshots to followers
 * of the new one; a node of the old version refuses a version 4 snapshot by its version, before it changes anything.
 * Version 5 adds a data group's client sessions (state/sessions.ts): the clock and horizon in the state record, the
 * sessions and remembered answers in `{kind: 'client-sessions', table: 0 | 1, rows}` records after the flushed rows.
 * An older snapshot installs with no sessions. Version 6 pages a data group's change log (`{kind: 'changes', …}`,
 * after the sessions) instead of carrying its up to 20,000 entries inside the state record.
 */
const SNAPSHOT_VERSIONS_READ: readonly number[] = [3, 4, 5, 6];
const FORMAT = 'kalam-snapshot';
const NEWLINE = 0x0a;

/** Rows of one table per record: a page's objects are all that restore holds at once. */
export const SNAPSHOT_ROWS_PER_PAGE = 256;

/**
 * Bytes of values a page closes at, whatever its row count (a row larger than this goes alone). Each record is one
 * JSON string; over 128 KB V8 puts a string in its large-object space, which only a full collection frees — 256 rows
 * of 1 KB made every page such a string, and a leader building a 300 MB shard's snapshot held ~84 MB of them.
 */
export const SNAPSHOT_PAGE_BYTES_MAX = 32 * 1024;

/** Whether a page of `rows` rows holding `bytes` (rowBytes) is full: every pager closes its pages by this one rule. */
export function pageFull(rows: number, bytes: number): boolean {
  return rows >= SNAPSHOT_ROWS_PER_PAGE || bytes >= SNAPSHOT_PAGE_BYTES_MAX;
}

/** About how many bytes `row`'s values take in a page's JSON (strings by length, bytes as hex, the rest 16). */
export function rowBytes(row: unknown): number {
  if (typeof row !== 'object' || row === null) return 16;
  let bytes = 0;
  for (const v of Object.values(row)) {
    if (typeof v === 'string') bytes += v.length + 8;
    else if (v instanceof Uint8Array) bytes += 2 * v.byteLength + 8;
    else if (typeof v === 'object' && v !== null) bytes += rowBytes(v);
    else bytes += 16;
  }
  return bytes;
}

export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
  readonly code = 'SNAPSHOT_CORRUPT';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where a SnapshotWriter's bytes go, in order (the driver's SnapshotOutput: a node's is a file). */
export interface SnapshotOutput {
  write(bytes: Uint8Array): void;
  finish(): SnapshotSource;
  abort(): void;
}

/** The bytes in memory, joined into one buffer at the end (stores in memory, tests). */
class MemoryOutput implements SnapshotOutput {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  write(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.bytes += bytes.length;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    this.parts = [];
    return out;
  }
  abort(): void {
    this.parts = [];
  }
}

/**
 * Builds a snapshot record by record (each encoded at once: the records' objects are not kept), into `output` — in
 * memory by default, or a file, so that the snapshot is never whole in memory.
 */
export class SnapshotWriter {
  private readonly hash = createHash('sha256');
  private records = 0;
  bytes = 0;

  constructor(
    groupId: number,
    private readonly output: SnapshotOutput = new MemoryOutput(),
  ) {
    this.line({ format: FORMAT, groupId, version: SNAPSHOT_VERSION });
  }

  record(value: Record<string, unknown>): void {
    this.line(value);
    this.records++;
  }

  /** The whole snapshot: header, records, trailer — a Uint8Array from the default output. */
  finish(): SnapshotSource {
    const trailer = encoder.encode(
      `${canonicalJson({ crc: this.hash.digest('hex'), end: true, records: this.records })}\n`,
    );
    this.output.write(trailer);
    return this.output.finish();
  }

  /** Gives up: the output drops what it holds. */
  abort(): void {
    this.output.abort();
  }

  /** The whole snapshot as one buffer: only for a writer on the default output (in memory). */
  finishInMemory(): Uint8Array {
    const data = this.finish();
    if (!(data instanceof Uint8Array)) throw new TypeError('finishInMemory: the writer has an output of its own');
    return data;
  }

  private line(value: Record<string, unknown>): void {
    const bytes = encoder.encode(`${canonicalJson(value)}\n`);
    this.hash.update(bytes);
    this.output.write(bytes);
    this.bytes += bytes.length;
  }
}

/**
 * How much of a snapshot a reader asks its source for at a time: the reader holds one such piece, plus the record
 * line it is in the middle of (a record is bounded: a page of rows), never the whole snapshot.
 */
export const SNAPSHOT_READ_BYTES = 1024 * 1024;

/** The largest header line a reader looks for before it calls the data foreign. */
const HEADER_BYTES_MAX = 64 * 1024;

/**
 * A snapshot's bytes as its reader sees them: a Uint8Array, or any source read a range at a time (a file). The same
 * shape as the Raft core's SnapshotData, so a received snapshot is read where it lies.
 */
export interface SnapshotSource {
  readonly byteLength: number;
  subarray(begin: number, end: number): Uint8Array;
}

/** The complete lines of `data` from byte `from`, in order, each with the offset it starts at; read piece by piece. */
function* lines(data: SnapshotSource, from: number, pieceBytes: number): Generator<{ at: number; line: Uint8Array }> {
  let carry: Uint8Array = new Uint8Array(0);
  let carryAt = from;
  for (let pos = from; pos < data.byteLength;) {
    const end = Math.min(pos + pieceBytes, data.byteLength);
    const piece = data.subarray(pos, end);
    let start = 0;
    for (let nl = piece.indexOf(NEWLINE); nl >= 0; nl = piece.indexOf(NEWLINE, start)) {
      const part = piece.subarray(start, nl);
      const line = carry.length === 0 ? part : concat(carry, part);
      carry = new Uint8Array(0);
      yield { at: carryAt, line };
      start = nl + 1;
      carryAt = pos + start;
    }
    // The rest of the piece begins a line that goes on in the next one: copied, as the piece may be reused.
    carry = concat(carry, piece.subarray(start));
    pos = end;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * The records of a snapshot of `groupId`, verified first (header, trailer, record count, checksum) in one pass over
 * the bytes; they are then read and parsed one at a time as the caller iterates (a second pass). Throws
 * SnapshotFormatError naming what is wrong. Reads `data` a piece at a time (`pieceBytes`), so a snapshot in a file is
 * never held whole in memory.
 */
export function snapshotRecords(
  data: SnapshotSource,
  groupId: number,
  pieceBytes = SNAPSHOT_READ_BYTES,
): Iterable<Record<string, unknown>> {
  const reader = new SnapshotReader(data, groupId, pieceBytes);
  reader.verify(Infinity);
  return {
    *[Symbol.iterator]() {
      for (const r of reader.records()) yield r.value;
    },
  };
}

/**
 * A snapshot read in two passes, each a bounded piece at a time if the caller wants (an install across driver turns):
 * `verify` checks header, trailer, record count and checksum over the whole stream, and only then `records` hands the
 * records out, each parsed as the caller asks for it, with the bytes of its line.
 */
export class SnapshotReader {
  readonly version: number;
  private readonly headerEnd: number;
  private readonly hash = createHash('sha256');
  private scan: Generator<{ at: number; line: Uint8Array }> | undefined;
  private last: { at: number; line: Uint8Array } | undefined;
  private count = 0;
  private trailerStart = -1;
  /** The snapshot's checksum (its trailer's), once verified. */
  crc = '';

  constructor(
    private readonly data: SnapshotSource,
    private readonly groupId: number,
    private readonly pieceBytes = SNAPSHOT_READ_BYTES,
  ) {
    const head = data.subarray(0, Math.min(HEADER_BYTES_MAX, data.byteLength));
    const headerEnd = head.indexOf(NEWLINE);
    if (headerEnd < 0) this.fail('no header line');
    const header = parseLine(head, 0, headerEnd, this.fail);
    if (header['format'] !== FORMAT) this.fail('not a Kalam snapshot');
    const version = header['version'];
    if (typeof version !== 'number' || !SNAPSHOT_VERSIONS_READ.includes(version))
      this.fail(`format version ${String(version)}, this Kalam reads ${SNAPSHOT_VERSIONS_READ.join(' and ')}`);
    if (header['groupId'] !== groupId) this.fail(`it is a snapshot of group ${String(header['groupId'])}`);
    if (data.subarray(data.byteLength - 1, data.byteLength)[0] !== NEWLINE) this.fail('truncated (no trailer)');
    this.version = version as number;
    this.headerEnd = headerEnd;
    this.hash.update(data.subarray(0, headerEnd + 1));
    this.scan = lines(data, headerEnd + 1, pieceBytes);
  }

  private readonly fail = (what: string): never => {
    throw new SnapshotFormatError(
      `the snapshot of group ${this.groupId} (${this.data.byteLength} bytes) is refused: ${what}`,
    );
  };

  /** Verifies about `bytesMax` more of the stream (at least one line); true once the whole snapshot checked out. */
  verify(bytesMax: number): boolean {
    const scan = this.scan;
    if (scan === undefined) return true;
    let bytes = 0;
    while (bytes < bytesMax) {
      const next = scan.next();
      if (next.done === true) {
        this.finishVerify();
        return true;
      }
      // Every line but the last is hashed once the next one shows it is not the trailer.
      if (this.last !== undefined) {
        this.hash.update(this.last.line).update(NEWLINE_BYTES);
        this.count++;
      }
      this.last = next.value;
      bytes += next.value.line.length + 1;
    }
    return false;
  }

  private finishVerify(): void {
    this.scan = undefined;
    const last = this.last;
    if (last === undefined) return this.fail('truncated (no trailer)');
    this.trailerStart = last.at;
    const trailer = parseLine(last.line, 0, last.line.length, this.fail);
    if (trailer['end'] !== true) this.fail('truncated (no trailer)');
    if (trailer['crc'] !== this.hash.digest('hex')) this.fail('checksum mismatch (corrupt)');
    if (trailer['records'] !== this.count)
      this.fail(`${this.count} records, the trailer says ${String(trailer['records'])}`);
    this.crc = trailer['crc'] as string;
    this.last = undefined;
  }

  /** The records, in order, each with the bytes of its line: only once `verify` returned true. */
  *records(): Generator<{ value: Record<string, unknown>; bytes: number }> {
    if (this.scan !== undefined || this.trailerStart < 0) throw new Error('SnapshotReader.records before verify');
    for (const { at, line } of lines(this.data, this.headerEnd + 1, this.pieceBytes)) {
      if (at >= this.trailerStart) return;
      yield { value: parseLine(line, 0, line.length, this.fail, at), bytes: line.length + 1 };
    }
  }
}

const NEWLINE_BYTES = new Uint8Array([NEWLINE]);

function parseLine(
  data: Uint8Array,
  from: number,
  to: number,
  fail: (what: string) => never,
  at = from,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data.subarray(from, to)));
  } catch {
    fail(`a record at byte ${at} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`the record at byte ${at}`);
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
    /** The records' kind: a data group's table rows, its client sessions (state/sessions.ts) or its change log. */
    private readonly kind: 'rows' | 'client-sessions' | 'changes' = 'rows',
    /** Rows as arrays of the query's columns instead of objects (the change log's: no key names repeated). */
    private readonly raw = false,
  ) {}

  /** Pages until every table is written (true) or `budgetMs` has passed (false: call again). */
  step(budgetMs: number): boolean {
    const end = performance.now() + budgetMs;
    while (this.table < this.queries.length) {
      this.cursor ??= this.db
        .prepare(this.queries[this.table]!)
        .raw(this.raw)
        .iterate(...this.args);
      const page: unknown[] = [];
      let bytes = 0;
      let done = false;
      while (!pageFull(page.length, bytes)) {
        const next = this.cursor.next();
        if (next.done === true) {
          done = true;
          break;
        }
        page.push(next.value);
        bytes += rowBytes(next.value);
      }
      if (page.length > 0) this.out.record({ kind: this.kind, rows: page, table: this.table });
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
