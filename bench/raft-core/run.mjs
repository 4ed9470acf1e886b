#!/usr/bin/env node
// bench/raft-core: proposals committed per second by a 3-node cluster of the pure Raft core, with no disk and
// no network — the CPU ceiling of the protocol code. Every node is a RawNode from the built @kalam/raft; one
// driver loop does what a real driver does, in the same order (persist, send, apply, advance), but
// "persisting" appends to an array and "sending" steps the message into its target in the same round.
//
// One round: the leader tops its proposals up to the window (proposals in flight: proposed, not yet applied
// on the leader); every node drains one Ready; every message produced in the round is delivered. Nodes tick
// once every TICK_EVERY_ROUNDS rounds (heartbeats and CheckQuorum stay live), and compact their logs every
// COMPACT_EVERY_ENTRIES applied entries so memory stays flat over a long run.
//
// Usage: node bench/raft-core/run.mjs [--json] [--quick] [--duration-ms N] [--windows 1,16,64]
// Writes bench/results/raft-core.json (not with --quick, whose figures mean nothing). Bounded: the default
// run takes (warm-up + duration) per window, about 14 s for three windows.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { machine, printTable, writeResults } from '../lib.mjs';

const BENCH = 'raft-core';
const NODES = 3;
const PAYLOAD_BYTES = 100;
const TICK_EVERY_ROUNDS = 100;
const COMPACT_EVERY_ENTRIES = 10_000;
/** Entries kept behind a compaction, as a real node keeps a tail for followers slightly behind. */
const COMPACT_KEEP_ENTRIES = 1_000;
/** Rounds between clock reads. */
const CLOCK_EVERY_ROUNDS = 16;
const DURATION_MS_MAX = 15_000;

let raft;
try {
  raft = await import('@kalam/raft');
} catch (error) {
  process.stderr.write(`bench ${BENCH}: @kalam/raft is not built (${error.message}): run \`make build\` first\n`);
  process.exit(2);
}
const { RawNode, Prng, StateRole, EntryKind, nodeId } = raft;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'duration-ms': { type: 'string' },
      windows: { type: 'string', default: '1,16,64' },
    },
  });
  const quick = values.quick;
  const durationMs = values['duration-ms'] === undefined ? (quick ? 200 : 4_000) : Number(values['duration-ms']);
  if (!Number.isInteger(durationMs) || durationMs < 1 || durationMs > DURATION_MS_MAX) {
    usage(`--duration-ms must be an integer from 1 to ${DURATION_MS_MAX}`);
  }
  const windows = values.windows.split(',').map(Number);
  if (windows.some((w) => !Number.isInteger(w) || w < 1 || w > 4096)) {
    usage('--windows must be a comma-separated list of integers from 1 to 4096');
  }
  return { json: values.json, quick, durationMs, warmupMs: quick ? 50 : 500, windows };
}

function usage(message) {
  process.stderr.write(`bench ${BENCH}: ${message}\n`);
  process.exit(2);
}

/** One node's "durable storage": the hard state and the log suffix since the last compaction. */
class MemoryStorage {
  hardState = undefined;
  /** entries[i] has index firstIndex + i. */
  entries = [];
  firstIndex = 1;

  persist(rd) {
    if (rd.hardState !== undefined) this.hardState = rd.hardState;
    const first = rd.entries[0];
    if (first === undefined) return;
    // The first entry may overwrite a suffix (a new leader's log wins); the in-memory cluster never does
    // that after the election, but the driver handles it as a real one must.
    this.entries.length = Math.max(0, first.index - this.firstIndex);
    for (const e of rd.entries) this.entries.push(e);
  }

  compact(index) {
    const drop = index + 1 - this.firstIndex;
    if (drop <= 0) return;
    this.entries.splice(0, drop);
    this.firstIndex = index + 1;
  }
}

class Cluster {
  constructor() {
    this.ids = Array.from({ length: NODES }, (_, i) => nodeId(i + 1));
    this.nodes = new Map();
    this.storage = new Map();
    this.applied = new Map();
    for (const id of this.ids) {
      this.nodes.set(
        id,
        new RawNode({
          id,
          voters: this.ids,
          electionTick: 10,
          heartbeatTick: 1,
          preVote: true,
          checkQuorum: true,
          random: new Prng(1000 + id),
        }),
      );
      this.storage.set(id, new MemoryStorage());
      this.applied.set(id, 0);
    }
    this.outbox = [];
    this.messages = 0;
    this.rounds = 0;
    /** Command entries applied on the leader. */
    this.committed = 0;
  }

  leader() {
    for (const node of this.nodes.values()) if (node.raft.role === StateRole.Leader) return node;
    return undefined;
  }

  elect() {
    this.nodes.get(this.ids[0]).campaign();
    for (let i = 0; i < 100 && this.leader() === undefined; i++) this.round();
    if (this.leader() === undefined) throw new Error('no leader after 100 rounds');
    // Let the leader's no-op commit everywhere.
    for (let i = 0; i < 10; i++) this.round();
  }

  /** Drain one Ready per node — persist, send, apply, advance — then deliver what was sent. */
  round() {
    this.rounds++;
    if (this.rounds % TICK_EVERY_ROUNDS === 0) for (const node of this.nodes.values()) node.tick();
    for (const [id, node] of this.nodes) {
      if (!node.hasReady()) continue;
      const rd = node.ready();
      const storage = this.storage.get(id);
      storage.persist(rd);
      for (const m of rd.messages) this.outbox.push(m);
      // The write above is "durable" at once, so messages that wait for it may leave now.
      for (const m of rd.persistedMessages) this.outbox.push(m);
      this.apply(id, node, rd.committedEntries);
      node.advance(rd);
      this.maybeCompact(id, node, storage);
    }
    const outbox = this.outbox;
    this.outbox = [];
    this.messages += outbox.length;
    for (const m of outbox) this.nodes.get(m.to).step(m);
  }

  apply(id, node, entries) {
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    this.applied.set(id, last.index);
    if (node.raft.role !== StateRole.Leader) return;
    for (const e of entries) if (e.kind === EntryKind.Command) this.committed++;
  }

  maybeCompact(id, node, storage) {
    const applied = this.applied.get(id);
    if (applied - storage.firstIndex < COMPACT_EVERY_ENTRIES + COMPACT_KEEP_ENTRIES) return;
    const compactTo = applied - COMPACT_KEEP_ENTRIES;
    node.compact(applied, EMPTY, compactTo);
    storage.compact(compactTo);
  }
}

const EMPTY = new Uint8Array(0);
const PAYLOAD = new Uint8Array(PAYLOAD_BYTES).map((_, i) => i & 0xff);

/** Runs one window size for warm-up + duration and returns its row. */
function runWindow(window, { warmupMs, durationMs }) {
  const cluster = new Cluster();
  cluster.elect();
  const leader = cluster.leader();
  let proposed = 0;
  const startMs = performance.now();
  let measureFromMs;
  let base;
  let endMs = startMs;
  for (;;) {
    while (proposed - cluster.committed < window) {
      leader.propose(PAYLOAD);
      proposed++;
    }
    cluster.round();
    if (cluster.rounds % CLOCK_EVERY_ROUNDS !== 0) continue;
    endMs = performance.now();
    if (measureFromMs === undefined) {
      if (endMs - startMs < warmupMs) continue;
      measureFromMs = endMs;
      base = { committed: cluster.committed, messages: cluster.messages, rounds: cluster.rounds };
    } else if (endMs - measureFromMs >= durationMs) {
      break;
    }
  }
  if (leader !== cluster.leader()) throw new Error('leadership changed during the run');
  const seconds = (endMs - measureFromMs) / 1000;
  const committed = cluster.committed - base.committed;
  return {
    window,
    committed,
    durationMs: Math.round(endMs - measureFromMs),
    proposalsPerSec: Math.round(committed / seconds),
    payloadMBps: (committed * PAYLOAD_BYTES) / seconds / 1e6,
    messagesPerProposal: (cluster.messages - base.messages) / committed,
    roundsPerProposal: (cluster.rounds - base.rounds) / committed,
  };
}

const COLUMNS = [
  { key: 'window', title: 'in flight' },
  { key: 'committed', title: 'committed' },
  { key: 'durationMs', title: 'ms' },
  { key: 'proposalsPerSec', title: 'proposals/s' },
  { key: 'payloadMBps', title: 'payload MB/s' },
  { key: 'messagesPerProposal', title: 'msgs/proposal' },
  { key: 'roundsPerProposal', title: 'rounds/proposal' },
];

const options = parseOptions();
const rows = [];
for (const window of options.windows) {
  process.stderr.write(`bench ${BENCH}: window ${window} …\n`);
  rows.push(runWindow(window, options));
}
const result = {
  bench: BENCH,
  title: `proposals committed per second, ${NODES}-node in-memory cluster of the pure core, ${PAYLOAD_BYTES}-byte payloads`,
  unit: 'proposals/s',
  startedAt: new Date().toISOString(),
  machine: machine(),
  config: {
    nodes: NODES,
    payloadBytes: PAYLOAD_BYTES,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    windows: options.windows,
    tickEveryRounds: TICK_EVERY_ROUNDS,
    compactEveryEntries: COMPACT_EVERY_ENTRIES,
    quick: options.quick,
  },
  columns: COLUMNS,
  rows,
  resultsFile: options.quick ? null : 'bench/results/raft-core.json',
};
if (!options.quick) {
  writeResults(BENCH, result);
}
if (options.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${BENCH}: ${result.title}`);
  printTable(COLUMNS, rows);
  if (!options.quick) console.log(`\nwritten to ${result.resultsFile}`);
}
