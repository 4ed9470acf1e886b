// What this proves: a Kalam snapshot is a stream of bounded records (snapshot-format.ts) — a user shard's rows
// travel in pages of at most SNAPSHOT_ROWS_PER_PAGE rows, never as one record of the whole state — and restores on
// another node to the very same state; a snapshot that is corrupt, truncated, of another group or of another
// format version is refused with SnapshotFormatError before anything changes; and over a data.db file, a snapshot
// is built in slices from a read view while the shard applies on, and holds the state as of where it began.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppliedEntry } from '@kalam/multiraft';
import {
  DataStore,
  SNAPSHOT_VERSION,
  ShardRouter,
  SnapshotFormatError,
  SystemStateMachine,
  canonicalJson,
  snapshotRecords,
  UserDataStateMachine,
  encodeCommand,
} from '../src/index.js';
import type { AnyCommand, SnapshotSource, SystemCommand, TableSchema } from '../src/index.js';
import { SNAPSHOT_PAGE_BYTES_MAX, SNAPSHOT_READ_BYTES, SNAPSHOT_ROWS_PER_PAGE } from '../src/state/snapshot-format.js';

const router = new ShardRouter();
const ALICE = 'alice';
const ROWS = 3 * SNAPSHOT_ROWS_PER_PAGE + 7;

const notes: TableSchema = {
  columns: [
    { name: 'id', type: 'BIGINT', notNull: true, default: null },
    { name: 'body', type: 'TEXT', notNull: false, default: null },
  ],
  primaryKey: 'id',
  options: {},
};

const DDL: SystemCommand[] = [
  { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
  { type: 'CreateTable', tableId: 'app.notes', tableType: 'USER', schema: notes, createdAt: 2 },
];

function entries(start: number, cmds: readonly AnyCommand[]): AppliedEntry[] {
  return cmds.map((c, i) => ({ index: start + i, term: 1, kind: 'command', data: encodeCommand(c) }));
}

function node(path = ':memory:'): { system: SystemStateMachine; alice: UserDataStateMachine; store: DataStore } {
  const store = DataStore.open(path);
  return {
    store,
    system: new SystemStateMachine(store),
    alice: new UserDataStateMachine(store, router.userShard(ALICE), router),
  };
}

/** A node whose alice shard holds ROWS rows (inserted 100 per command). */
function loaded(path?: string): ReturnType<typeof node> {
  const n = node(path);
  n.system.apply(entries(1, DDL));
  const cmds: AnyCommand[] = [];
  for (let from = 0; from < ROWS; from += 100) {
    const rows = Array.from({ length: Math.min(100, ROWS - from) }, (_, i) => ({
      id: from + i,
      body: `row ${from + i}`,
    }));
    cmds.push({
      type: 'Insert',
      tableId: 'app.notes',
      userId: ALICE,
      rows,
      seqBase: 1000 + from,
      at: 10,
      metaIndex: 2,
    });
  }
  n.alice.apply(entries(1, cmds));
  return n;
}

const lines = (data: Uint8Array): Record<string, unknown>[] =>
  new TextDecoder()
    .decode(data)
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('a shard snapshot carries its rows in bounded pages and restores to the same state', () => {
  const a = loaded();
  const data = a.alice.snapshot();
  const records = lines(data);
  assert.deepEqual(records[0], { format: 'kalam-snapshot', groupId: a.alice.groupId, version: SNAPSHOT_VERSION });
  const pages = records.filter((r) => r['kind'] === 'rows');
  assert.equal(pages.length, Math.ceil(ROWS / SNAPSHOT_ROWS_PER_PAGE));
  assert.ok(pages.every((p) => (p['rows'] as unknown[]).length <= SNAPSHOT_ROWS_PER_PAGE));
  assert.equal(
    pages.reduce((n, p) => n + (p['rows'] as unknown[]).length, 0),
    ROWS,
  );
  const state = records.find((r) => r['kind'] === 'state')!['state'] as { tables: object[] };
  assert.deepEqual(
    state.tables.map((t) => Object.keys(t).sort()),
    [['incarnation', 'tableId']],
    'the state record lists the tables, their rows come in the pages',
  );
  assert.equal(records[records.length - 1]!['end'], true);

  const b = node();
  b.system.restore({ index: a.system.appliedIndex(), term: 1, data: a.system.snapshot() });
  b.alice.restore({ index: a.alice.appliedIndex(), term: 1, data });
  assert.deepEqual(b.alice.snapshot(), data, 'the same state, byte for byte');
  assert.equal(b.alice.userRows('app.notes', ALICE).length, ROWS);
  assert.equal(b.alice.appliedIndex(), a.alice.appliedIndex());
});

test('pages of large rows close by bytes: every record stays far below the large-object size of V8, and restores', () => {
  const a = node();
  a.system.apply(entries(1, DDL));
  const rows = Array.from({ length: 200 }, (_, i) => ({ id: i, body: `${i}:`.padEnd(4_000, 'x') }));
  const cmds: AnyCommand[] = [0, 100].map((from) => ({
    type: 'Insert',
    tableId: 'app.notes',
    userId: ALICE,
    rows: rows.slice(from, from + 100),
    seqBase: 1000 + from,
    at: 10,
    metaIndex: 2,
  }));
  a.alice.apply(entries(1, cmds));
  const data = a.alice.snapshot();
  const text = new TextDecoder().decode(data).trimEnd().split('\n');
  const pages = text.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['kind'] === 'rows');
  // 256 rows of 4 KB would be one ~1 MB string per page; closed at SNAPSHOT_PAGE_BYTES_MAX they hold 8 or 9 rows.
  assert.ok(pages.length >= 200 / 9, `${pages.length} pages`);
  assert.ok(pages.every((p) => (p['rows'] as unknown[]).length <= 9));
  // The change log keeps every one of those 200 changes (with the row): in pages too, not inside the state record.
  const changes = text.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['kind'] === 'changes');
  assert.equal(
    changes.reduce((n, p) => n + (p['rows'] as unknown[]).length, 0),
    200,
  );
  assert.ok(
    text.every((l) => l.length < SNAPSHOT_PAGE_BYTES_MAX + 8_192),
    `longest record ${Math.max(...text.map((l) => l.length))} characters`,
  );
  const b = node();
  b.system.restore({ index: a.system.appliedIndex(), term: 1, data: a.system.snapshot() });
  b.alice.restore({ index: a.alice.appliedIndex(), term: 1, data });
  assert.deepEqual(b.alice.snapshot(), data, 'the same state, byte for byte');
  assert.equal(b.alice.userRows('app.notes', ALICE).length, 200);
});

/** `records` (header first, end line excluded) as a snapshot stream with its end line and checksum. */
function stream(records: readonly Record<string, unknown>[]): Uint8Array {
  const body = records.map((r) => `${canonicalJson(r)}\n`).join('');
  const crc = createHash('sha256').update(body).digest('hex');
  return new TextEncoder().encode(body + `${canonicalJson({ crc, end: true, records: records.length - 1 })}\n`);
}

test('a version 5 snapshot (the change log inside the state record) installs to the same state; a bad change page is refused', () => {
  const a = loaded();
  const data = a.alice.snapshot();
  const records = lines(data).slice(0, -1);
  const changes = records.filter((r) => r['kind'] === 'changes');
  assert.ok(changes.length > 0);
  const entries = changes.flatMap((p) => p['rows'] as unknown[][]);
  const v5 = records
    .filter((r) => r['kind'] !== 'changes')
    .map((r) => structuredClone(r))
    .map((r) => {
      if (r['format'] !== undefined) return { ...r, version: 5 };
      if (r['kind'] !== 'state') return r;
      const state = r['state'] as { changeLog: Record<string, unknown> };
      return { ...r, state: { ...state, changeLog: { ...state.changeLog, entries } } };
    });
  const b = node();
  b.system.restore({ index: a.system.appliedIndex(), term: 1, data: a.system.snapshot() });
  b.alice.restore({ index: a.alice.appliedIndex(), term: 1, data: stream(v5) });
  assert.deepEqual(b.alice.snapshot(), data, 'the same state, change log included, byte for byte');

  const bad = records.map((r) =>
    r['kind'] === 'changes'
      ? { ...r, rows: (r['rows'] as unknown[][]).map((c) => [...c.slice(0, 5), 'drop', ...c.slice(6)]) }
      : r,
  );
  const c = loaded();
  const before = c.alice.snapshot();
  assert.throws(
    () => c.alice.restore({ index: a.alice.appliedIndex(), term: 1, data: stream(bad) }),
    (err: unknown) => err instanceof SnapshotFormatError && /malformed changes record/.test(err.message),
  );
  assert.deepEqual(c.alice.snapshot(), before, 'nothing changed');
});

test('a corrupt, truncated, foreign or other-version snapshot is refused and changes nothing', () => {
  const a = loaded();
  const data = a.alice.snapshot();
  const b = loaded();
  const before = b.alice.snapshot();
  const flipped = data.slice();
  const at = Math.floor(data.length / 2);
  flipped[at] = flipped[at]! ^ 0x01;
  const otherVersion = new TextEncoder().encode(
    new TextDecoder().decode(data).replace(`"version":${SNAPSHOT_VERSION}`, `"version":${SNAPSHOT_VERSION + 1}`),
  );
  const cases: [string, Uint8Array, RegExp][] = [
    ['one flipped bit', flipped, /checksum|not JSON/],
    ['truncated', data.subarray(0, data.length - 10), /truncated/],
    ['cut after a record', data.subarray(0, data.indexOf(0x0a, 100) + 1), /truncated/],
    ['empty', new Uint8Array(0), /no header/],
    ['of another group', b.system.snapshot(), /snapshot of group/],
    ['another format version', otherVersion, /format version/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(
      () => b.alice.restore({ index: 999, term: 1, data: bytes }),
      (err: unknown) => err instanceof SnapshotFormatError && message.test(err.message),
      what,
    );
    assert.deepEqual(b.alice.snapshot(), before, `${what}: nothing changed`);
    assert.notEqual(b.alice.appliedIndex(), 999, `${what}: the applied index did not move`);
  }
});

/** A snapshot's bytes behind SnapshotSource only (as a file is), recording the largest range asked for. */
class PieceSource implements SnapshotSource {
  largestRead = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get byteLength(): number {
    return this.bytes.length;
  }
  subarray(begin: number, end: number): Uint8Array {
    this.largestRead = Math.max(this.largestRead, Math.min(end, this.bytes.length) - begin);
    return this.bytes.slice(begin, end); // a copy, as a file read is
  }
}

test('the streaming reader reads a source in pieces, yields the same records, and refuses what the buffer reader does', () => {
  const a = loaded();
  const data = a.alice.snapshot();
  const PIECE = 100; // far smaller than a page record: lines span many pieces
  const source = new PieceSource(data);
  const streamed = [...snapshotRecords(source, a.alice.groupId, PIECE)];
  assert.deepEqual(streamed, lines(data).slice(1, -1), 'every record between header and trailer');
  assert.ok(source.largestRead <= 64 * 1024, `never the whole snapshot (${source.largestRead} of ${data.length})`);

  // Installed from a source that is not a Uint8Array, the state is the same.
  const b = node();
  b.system.restore({ index: a.system.appliedIndex(), term: 1, data: new PieceSource(a.system.snapshot()) });
  b.alice.restore({ index: a.alice.appliedIndex(), term: 1, data: new PieceSource(data) });
  assert.deepEqual(b.alice.snapshot(), data);

  const flipped = data.slice();
  flipped[Math.floor(data.length / 2)]! ^= 0x01;
  const cut = data.subarray(0, data.indexOf(0x0a, 100) + 1);
  const noCrc = new TextEncoder().encode(new TextDecoder().decode(data).replace(/"records":\d+/, '"records":1'));
  const cases: [string, Uint8Array, RegExp][] = [
    ['one flipped bit', flipped, /checksum|not JSON/],
    ['truncated', data.subarray(0, data.length - 10), /truncated/],
    ['cut after a record', cut, /truncated/],
    ['empty', new Uint8Array(0), /no header/],
    ['no newline at all', new Uint8Array(200_000).fill(0x41), /no header/],
    ['of another group', a.system.snapshot(), /snapshot of group/],
    ['a trailer that miscounts', noCrc, /records, the trailer says/],
  ];
  for (const [what, bytes, message] of cases) {
    for (const piece of [PIECE, SNAPSHOT_READ_BYTES]) {
      assert.throws(
        () => snapshotRecords(new PieceSource(bytes), a.alice.groupId, piece),
        (err: unknown) => err instanceof SnapshotFormatError && message.test(err.message),
        `${what} (pieces of ${piece})`,
      );
    }
  }
});

test('over a data.db file, a snapshot is built in slices from a read view while the shard applies on', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-snap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = loaded(join(dir, 'data.db'));
  t.after(() => a.store.close());
  const expected = a.alice.snapshot(); // at once, as of now
  const index = a.alice.appliedIndex();
  const build = a.alice.snapshotBuilder();
  assert.ok(build !== undefined, 'a file-backed store builds in slices');
  assert.equal(build.index, index);
  let steps = 0;
  let data: SnapshotSource | undefined;
  for (; data === undefined && steps < 1_000; steps++) {
    data = build.step(0); // one page per step
    // The shard applies on between slices; the snapshot must not see it.
    a.alice.apply(
      entries(index + 1 + steps, [
        {
          type: 'Insert',
          tableId: 'app.notes',
          userId: ALICE,
          rows: [{ id: 100_000 + steps, body: 'later' }],
          seqBase: 900_000 + steps,
          at: 10,
          metaIndex: 2,
        },
      ]),
    );
  }
  build.close();
  assert.ok(data !== undefined, 'the build completes');
  assert.ok(steps >= Math.ceil(ROWS / SNAPSHOT_ROWS_PER_PAGE), `${steps} slices`);
  assert.deepEqual(data, expected, 'the state as of the build start, byte for byte');
  assert.ok(a.alice.appliedIndex() > index, 'while the shard applied on');
  const b = node();
  b.system.restore({ index: a.system.appliedIndex(), term: 1, data: a.system.snapshot() });
  b.alice.restore({ index, term: 1, data });
  assert.equal(b.alice.userRows('app.notes', ALICE).length, ROWS);
  assert.equal(node().alice.snapshotBuilder(), undefined, 'a store in memory builds at once (snapshot())');
});

/** A builder's output that keeps what it is given apart (as a file would on disk), and finishes into a PieceSource. */
class RecordingOutput {
  readonly writes: Uint8Array[] = [];
  state: 'open' | 'finished' | 'aborted' = 'open';
  write(bytes: Uint8Array): void {
    assert.equal(this.state, 'open');
    this.writes.push(bytes.slice());
  }
  finish(): PieceSource {
    this.state = 'finished';
    const all = new Uint8Array(this.writes.reduce((n, w) => n + w.length, 0));
    let at = 0;
    for (const w of this.writes) {
      all.set(w, at);
      at += w.length;
    }
    return new PieceSource(all);
  }
  abort(): void {
    this.state = 'aborted';
  }
}

test('a builder given an output writes the snapshot to it record by record, and aborts it when closed early', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-snap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = loaded(join(dir, 'data.db'));
  t.after(() => a.store.close());
  const expected = a.alice.snapshot();
  const out = new RecordingOutput();
  const build = a.alice.snapshotBuilder(out);
  assert.ok(build !== undefined);
  let data: SnapshotSource | undefined;
  for (let steps = 0; data === undefined && steps < 1_000; steps++) data = build.step(0);
  build.close();
  assert.ok(data instanceof PieceSource, 'the output’s result, not a buffer of the writer’s');
  assert.equal(out.state, 'finished');
  assert.ok(out.writes.length >= Math.ceil(ROWS / SNAPSHOT_ROWS_PER_PAGE) + 3, 'one write per record');
  assert.ok(Math.max(...out.writes.map((w) => w.length)) < expected.length, 'no write holds the whole snapshot');
  assert.deepEqual(snapshotBytesOf(data), expected, 'the same bytes as a build in memory');
  const b = node();
  b.system.restore({ index: a.system.appliedIndex(), term: 1, data: a.system.snapshot() });
  b.alice.restore({ index: build.index, term: 1, data });
  assert.equal(b.alice.userRows('app.notes', ALICE).length, ROWS);

  const early = new RecordingOutput();
  const stopped = a.alice.snapshotBuilder(early);
  assert.ok(stopped !== undefined);
  assert.equal(stopped.step(0), undefined, 'one page, not finished');
  stopped.close();
  assert.equal(early.state, 'aborted', 'closed before it finished: the output drops what it got');
});

function snapshotBytesOf(data: SnapshotSource): Uint8Array {
  return data.subarray(0, data.byteLength);
}

test('installed piece by piece over a shard that holds rows, the old rows go a bounded number per piece, and only them', () => {
  // B's alice shard holds ROWS rows the snapshot does not have, and a user of another shard has rows in the same
  // physical table; the install deletes alice's old rows ~64 per piece (64 KiB pieces), not all in the first.
  const a = loaded();
  const data = a.alice.snapshot();
  const b = node();
  b.system.apply(entries(1, DDL));
  const bob = ['bob', 'carol', 'dave', 'erin'].find((u) => router.userShard(u) !== router.userShard(ALICE))!;
  const insert = (userId: string, from: number, count: number, seqBase: number): AnyCommand => ({
    type: 'Insert',
    tableId: 'app.notes',
    userId,
    rows: Array.from({ length: count }, (_, i) => ({ id: from + i, body: `old ${from + i}` })),
    seqBase,
    at: 10,
    metaIndex: 2,
  });
  const bobs = new UserDataStateMachine(b.store, router.userShard(bob), router);
  bobs.apply(entries(1, [insert(bob, 0, 50, 1)]));
  b.alice.apply(
    entries(
      1,
      [0, 200, 400, 600].map((from) => insert(ALICE, 100_000 + from, 200, 5000 + from)),
    ),
  );
  const table = b.store.db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'kt_%'")
    .get()!.name;
  // alice's old rows: ids from 100,000 on (the snapshot's are below 1,000).
  const oldRows = (): number =>
    (
      b.store.db.prepare(`SELECT count(*) AS n FROM "${table}" WHERE "_user_id" = ? AND "id" >= 100000`).get(ALICE) as {
        n: number;
      }
    ).n;
  assert.equal(oldRows(), 800);
  const install = b.alice.installer({ index: a.alice.appliedIndex(), term: 1, data });
  const left = [800];
  for (let i = 0; i < 10_000; i++) {
    const done = install.step(64 * 1024);
    left.push(oldRows());
    if (done) break;
  }
  assert.equal(left.at(-1), 0);
  const pieces = left.filter((n, i) => i > 0 && n < left[i - 1]!).length;
  assert.ok(pieces >= 800 / 64, `old rows left after each piece: ${left.join(', ')}`);
  assert.ok(
    left.every((n, i) => i === 0 || (n <= left[i - 1]! && left[i - 1]! - n <= 64)),
    `at most 64 deleted per piece: ${left.join(', ')}`,
  );
  assert.deepEqual(b.alice.snapshot(), data, 'the same state as the snapshot, byte for byte');
  assert.equal(bobs.userRows('app.notes', bob).length, 50, "the other shard's rows are untouched");
});
