/**
 * The crash test's child process: opens the store at argv[2], recovers every group (argv[4], comma
 * separated), then appends in a loop driven by the seed argv[3] — random payload sizes, term changes,
 * occasional truncation of the uncommitted suffix, received snapshots and compactions — printing an intent
 * line before each op and a done line after it returns (crash-model.ts). It runs until SIGKILLed, or exits
 * on its own after RUN_MS_MAX so that a lost parent never leaves it behind for long.
 *
 * The loop never yields to the event loop on purpose: writes to a pipe are synchronous on Linux, so a line is
 * in the pipe before the next op starts, and a SIGKILL can land anywhere, including inside a commit.
 */
import type { Entry, NodeId, Snapshot } from '@kalam/raft';
import { Prng } from '@kalam/raft';

import type { GroupWrite } from '../../src/index.js';
import { LogStore } from '../../src/index.js';
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

/** The next op and the call that performs it. */
function nextOp(prng: Prng, groupIds: readonly number[], models: ReadonlyMap<number, GroupModel>, store: LogStore) {
  const g = groupIds[prng.int(groupIds.length)] ?? 0;
  const compact = prng.chance(0.05) ? compaction(prng, g, models.get(g) ?? emptyModel()) : undefined;
  if (compact !== undefined) {
    const { op, snapshot } = compact;
    return { op, perform: () => store.compact(g, snapshot, op.compactTo, op.compactToTerm) };
  }
  const chosen = groupIds.filter(() => prng.chance(0.5));
  const parts = (chosen.length > 0 ? chosen : [g]).map((id) => groupWrite(prng, id, models.get(id) ?? emptyModel()));
  const op: CrashOp = { kind: 'write', groups: parts.map((p) => p.fact) };
  return { op, perform: () => store.write(parts.map((p) => p.write)) };
}

function run(): void {
  const [path, seedText, groupsText] = process.argv.slice(2);
  if (path === undefined || seedText === undefined || groupsText === undefined) {
    throw new Error('usage: crash-child DB_PATH SEED GROUPS');
  }
  const groupIds = groupsText.split(',').map(Number);
  const prng = new Prng(Number(seedText));
  const store = LogStore.open({ path, groupIds });
  let models = new Map(groupIds.map((g) => [g, modelOf(store.load(g))]));
  say({ t: 'ready' });
  const deadline = Date.now() + RUN_MS_MAX;
  for (let seq = 0; Date.now() < deadline; seq++) {
    const { op, perform } = nextOp(prng, groupIds, models, store);
    say({ t: 'intent', seq, op });
    perform();
    models = applyOp(models, op);
    say({ t: 'done', seq });
  }
  store.close();
}

run();
