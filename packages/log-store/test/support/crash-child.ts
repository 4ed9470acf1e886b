/**
 * The crash test's child process: opens the store at argv[2], recovers every group (argv[4], comma
 * separated), then appends in a loop driven by the seed argv[3] — random payload sizes, term changes,
 * occasional truncation of the uncommitted suffix, received snapshots and compactions — printing an intent
 * line before each op and a done line after it returns (crash-model.ts). It runs until SIGKILLed, or exits
 * on its own after RUN_MS_MAX so that a lost parent never leaves it behind for long.
 *
 * The loop never yields to the event loop on purpose: writes to a pipe are synchronous on Linux, so a line is
 * in the pipe before the next op starts, and a SIGKILL can land anywhere, including inside a commit.
 *
 * With argv[5] = 'worker' the ops go through LogWriter (the log worker thread) instead: the child hands over 1–4
 * ops back to back — the later ones queue behind the batch in flight and leave together — prints each op's done
 * line from its completion callback, and waits for the last before the next group. Several intents may then be
 * in flight at a kill; what recovers must be the reported ops plus a prefix of them.
 */
import type { Entry, NodeId, Snapshot } from '@kalam/raft';
import { Prng } from '@kalam/raft';

import type { GroupWrite } from '../../src/index.js';
import { LogStore, LogWriter } from '../../src/index.js';
import type { ChildLine, CompactOp, CrashOp, EntryFact, GroupModel, GroupWriteFact } from './crash-model.js';
import { applyOp, emptyModel, hashBytes, lastIndex, modelOf, snapshotFact, termAt } from './crash-model.js';

const RUN_MS_MAX = 20_000;
const VOTERS = 3;

function say(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function payload(prng: Prng): Uint8Array {
  const r = prng.float();
  const size = r < 0.7 ? prng.int(200) : r < 0.95 ? 200 + prng.int(3800) : 4000 + prng.int(66_000);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4) {
    const word = prng.nextU32();
    for (let k = 0; k < 4 && i + k < size; k++) bytes[i + k] = (word >>> (8 * k)) & 0xff;
  }
  return bytes;
}

function newEntries(prng: Prng, first: number, term: number, count: number): Entry[] {
  return Array.from({ length: count }, (_, i) =>
    prng.chance(0.1)
      ? { index: first + i, term, kind: 'noop' as const, data: new Uint8Array(0) }
      : { index: first + i, term, kind: 'command' as const, data: payload(prng) },
  );
}

function facts(entries: readonly Entry[]): EntryFact[] {
  return entries.map((e) => [e.index, e.term, e.kind, hashBytes(e.data)]);
}

/** One group's part of a write: an append, a truncation after a term change, or a received snapshot. */
function groupWrite(prng: Prng, g: number, m: GroupModel): { write: GroupWrite; fact: GroupWriteFact } {
  let [term, vote, commit] = m.hardState;
  const termBefore = term;
  if (term === 0) term = 1; // entries belong to a real term (≥ 1)
  const r = prng.float();
  let snapshot: Snapshot | undefined;
  let from = lastIndex(m) + 1;
  if (r < 0.04) {
    term += prng.int(2);
    snapshot = { index: lastIndex(m) + 1 + prng.int(5), term, data: payload(prng) };
    commit = snapshot.index;
    from = snapshot.index + 1;
  } else if (r < 0.14 && lastIndex(m) > commit) {
    term += 1; // a new leader overwrites the uncommitted suffix
    from = commit + 1 + prng.int(lastIndex(m) - commit);
  } else if (r < 0.18) {
    term += 1;
  }
  if (term !== termBefore) vote = prng.int(VOTERS + 1);
  const count = snapshot !== undefined ? prng.int(3) : 1 + prng.int(4);
  const entries = newEntries(prng, from, term, count);
  const last = from - 1 + count;
  const advanceCommit = prng.chance(0.7);
  if (advanceCommit) commit += prng.int(last - commit + 1);
  const writeHard = advanceCommit || term !== termBefore || snapshot !== undefined;
  const hardState = { term, vote: vote as NodeId, commit };
  const write: GroupWrite = { groupId: g, entries };
  const fact: GroupWriteFact = { g, entries: facts(entries) };
  if (writeHard) {
    write.hardState = hardState;
    fact.hardState = [term, vote, commit];
  }
  if (snapshot !== undefined) {
    write.snapshot = snapshot;
    fact.snapshot = snapshotFact(snapshot);
  }
  return { write, fact };
}

/** A compaction of a group with committed entries past its snapshot, or undefined when there is none. */
function compaction(prng: Prng, g: number, m: GroupModel): { op: CompactOp; snapshot: Snapshot } | undefined {
  const lo = Math.max(m.snapshot?.[0] ?? 0, m.offset[0] + 1);
  const commit = m.hardState[2];
  if (lo > commit) return undefined;
  const index = lo + prng.int(commit - lo + 1);
  const compactTo = m.offset[0] + prng.int(index - m.offset[0] + 1);
  const snapshot: Snapshot = { index, term: termAt(m, index), data: payload(prng) };
  const op: CompactOp = {
    kind: 'compact',
    g,
    snapshot: snapshotFact(snapshot),
    compactTo,
    compactToTerm: termAt(m, compactTo),
  };
  return { op, snapshot };
}

/** What performs the ops: the store itself, or the log worker (`done` runs once the op is durable). */
interface Sink {
  write(writes: readonly GroupWrite[], done: () => void): void;
  compact(g: number, snapshot: Snapshot, compactTo: number, compactToTerm: number, done: () => void): void;
}

/** The next op and the call that performs it. */
function nextOp(prng: Prng, groupIds: readonly number[], models: ReadonlyMap<number, GroupModel>, sink: Sink) {
  const g = groupIds[prng.int(groupIds.length)] ?? 0;
  const compact = prng.chance(0.05) ? compaction(prng, g, models.get(g) ?? emptyModel()) : undefined;
  if (compact !== undefined) {
    const { op, snapshot } = compact;
    return { op, perform: (done: () => void) => sink.compact(g, snapshot, op.compactTo, op.compactToTerm, done) };
  }
  const chosen = groupIds.filter(() => prng.chance(0.5));
  const parts = (chosen.length > 0 ? chosen : [g]).map((id) => groupWrite(prng, id, models.get(id) ?? emptyModel()));
  const op: CrashOp = { kind: 'write', groups: parts.map((p) => p.fact) };
  return {
    op,
    perform: (done: () => void) =>
      sink.write(
        parts.map((p) => p.write),
        done,
      ),
  };
}

async function run(): Promise<void> {
  const [path, seedText, groupsText, mode = 'sync'] = process.argv.slice(2);
  if (path === undefined || seedText === undefined || groupsText === undefined) {
    throw new Error('usage: crash-child DB_PATH SEED GROUPS [sync|worker]');
  }
  const groupIds = groupsText.split(',').map(Number);
  const prng = new Prng(Number(seedText));
  const store = LogStore.open({ path, groupIds });
  let models = new Map(groupIds.map((g) => [g, modelOf(store.load(g))]));
  const deadline = Date.now() + RUN_MS_MAX;
  if (mode !== 'worker') {
    const sink: Sink = {
      write: (writes, done) => (store.write(writes), done()),
      compact: (g, snap, to, toTerm, done) => (store.compact(g, snap, to, toTerm), done()),
    };
    say({ t: 'ready' });
    for (let seq = 0; Date.now() < deadline; seq++) {
      const { op, perform } = nextOp(prng, groupIds, models, sink);
      say({ t: 'intent', seq, op });
      perform(() => undefined);
      models = applyOp(models, op);
      say({ t: 'done', seq });
    }
    store.close();
    return;
  }
  store.close(); // the worker takes the file (and its exclusive lock), as RaftManager hands it over
  const writer = await LogWriter.start({
    path,
    groupIds,
    onFatal: (err) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    },
  });
  const sink: Sink = {
    write: (writes, done) => writer.write(writes, done),
    compact: (g, snap, to, toTerm, done) => {
      writer.compact(g, snap, to, toTerm);
      writer.write([], done); // an empty write completes with the batch that carries the compaction
    },
  };
  say({ t: 'ready' });
  for (let seq = 0; Date.now() < deadline;) {
    const count = 1 + prng.int(4);
    let last: Promise<void> = Promise.resolve();
    for (let k = 0; k < count; k++, seq++) {
      const { op, perform } = nextOp(prng, groupIds, models, sink);
      const mine = seq;
      say({ t: 'intent', seq: mine, op });
      last = new Promise((resolve) => perform(() => (say({ t: 'done', seq: mine }), resolve())));
      models = applyOp(models, op); // the next op builds on this one, as a driver's next turn does
    }
    await last;
  }
  await writer.close();
}

await run();
