#!/usr/bin/env node
// bench/log-store: write() throughput of the built @kalam/log-store with fsync on (WAL, synchronous=FULL),
// one transaction per call, as the RaftManager's driver turn issues it. Scenarios (groups × entries per
// group per transaction, 100-byte payloads, each group's hard state updated in every transaction as a
// leader's commit advances):
//   one-group      1 × 1    the floor: one fsync per entry
//   driver-turn   36 × 1    a typical turn: every group of a node appends one entry
//   batched-turn  36 × 8    a loaded turn
// plus the raw fdatasync rate of the same folder, the ceiling any fsync-per-transaction store meets.
//
// Usage: node bench/log-store/run.mjs [--json] [--quick] [--duration-ms N] [--dir PATH]
// --dir chooses the folder (default: a temp folder under the OS temp dir; it is removed afterwards).
import { Buffer } from 'node:buffer';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const BENCH = 'log-store';
const PAYLOAD_BYTES = 100;
const GROUP_IDS = [0, 1, 2, ...Array.from({ length: 32 }, (_, n) => 100 + n), 200];
const SCENARIOS = [
  { name: 'one-group', groups: 1, entriesPerGroup: 1 },
  { name: 'driver-turn', groups: 36, entriesPerGroup: 1 },
  { name: 'batched-turn', groups: 36, entriesPerGroup: 8 },
];
const DURATION_MS_MAX = 60_000;

let logStore;
try {
  logStore = await import('@kalam/log-store');
} catch (error) {
  process.stderr.write(`bench ${BENCH}: @kalam/log-store is not built (${error.message}): run \`make build\` first\n`);
  process.exit(2);
}
const { LogStore } = logStore;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'duration-ms': { type: 'string' },
      dir: { type: 'string' },
    },
  });
  const durationMs = values['duration-ms'] === undefined ? (values.quick ? 300 : 5_000) : Number(values['duration-ms']);
  if (!Number.isInteger(durationMs) || durationMs < 1 || durationMs > DURATION_MS_MAX) {
    process.stderr.write(`bench ${BENCH}: --duration-ms must be an integer from 1 to ${DURATION_MS_MAX}\n`);
    process.exit(2);
  }
  return { json: values.json, durationMs, dir: values.dir };
}

function runScenario(dir, scenario, durationMs) {
  const path = join(dir, `${scenario.name}.db`);
  rmSync(path, { force: true });
  rmSync(`${path}-wal`, { force: true });
  const groupIds = GROUP_IDS.slice(0, scenario.groups);
  const store = LogStore.open({ path, groupIds });
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(42);
  let next = 1;
  const turn = () => {
    const first = next;
    next += scenario.entriesPerGroup;
    const writes = groupIds.map((groupId) => ({
      groupId,
      hardState: { term: 1, vote: 1, commit: first - 1 },
      entries: Array.from({ length: scenario.entriesPerGroup }, (_, i) => ({
        index: first + i,
        term: 1,
        kind: 'command',
        data: payload,
      })),
    }));
    store.write(writes);
  };
  for (let i = 0; i < 20; i++) turn(); // warm-up: statements, WAL file
  const before = store.stats();
  const latencies = [];
  const started = performance.now();
  let now = started;
  while (now - started < durationMs) {
    turn();
    const t = performance.now();
    latencies.push(t - now);
    now = t;
  }
  const elapsedS = (now - started) / 1000;
  const after = store.stats();
  store.close();
  latencies.sort((a, b) => a - b);
  const transactions = after.transactions - before.transactions;
  return {
    scenario: scenario.name,
    groups: scenario.groups,
    entriesPerGroup: scenario.entriesPerGroup,
    transactionsPerSec: Math.round(transactions / elapsedS),
    entriesPerSec: Math.round((after.entriesWritten - before.entriesWritten) / elapsedS),
    p50Ms: round2(latencies[Math.floor(latencies.length * 0.5)] ?? 0),
    p99Ms: round2(latencies[Math.floor(latencies.length * 0.99)] ?? 0),
  };
}

function fdatasyncPerSec(dir, durationMs) {
  const fd = openSync(join(dir, 'fdatasync.bin'), 'w');
  const block = Buffer.alloc(4096, 1);
  let n = 0;
  const started = performance.now();
  try {
    while (performance.now() - started < durationMs) {
      writeSync(fd, block, 0, block.length, (n % 256) * block.length);
      fdatasyncSync(fd);
      n++;
    }
  } finally {
    closeSync(fd);
  }
  return Math.round(n / ((performance.now() - started) / 1000));
}

function round2(x) {
  return Math.round(x * 100) / 100;
}

const options = parseOptions();
const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kalam-bench-log-store-'));
try {
  const results = SCENARIOS.map((s) => runScenario(dir, s, options.durationMs));
  const fdatasync = fdatasyncPerSec(dir, Math.min(options.durationMs, 3_000));
  const report = {
    bench: BENCH,
    durationMs: options.durationMs,
    payloadBytes: PAYLOAD_BYTES,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
    fdatasyncPerSec: fdatasync,
    results,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    process.stdout.write(`raw fdatasync of 4 KiB in ${dir}: ${fdatasync}/s\n`);
    process.stdout.write('scenario       groups×entries  transactions/s  entries/s  p50 ms  p99 ms\n');
    for (const r of results) {
      process.stdout.write(
        `${r.scenario.padEnd(14)} ${`${r.groups}×${r.entriesPerGroup}`.padStart(14)} ${String(r.transactionsPerSec).padStart(15)} ${String(r.entriesPerSec).padStart(10)} ${String(r.p50Ms).padStart(7)} ${String(r.p99Ms).padStart(7)}\n`,
      );
    }
  }
} finally {
  if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
}
