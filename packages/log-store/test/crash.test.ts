// Crash test (issue 3 §1): a child process (support/crash-child.ts) appends to several groups in a loop —
// random payload sizes, term changes, truncation of the uncommitted suffix, received snapshots, compaction —
// and prints an intent line before each op and a done line once it returned. This test SIGKILLs the child
// at random moments, at least KILLS_MIN times, each after a random 5–60 ms (mostly counted from its "ready"
// line, so the kill lands among writes; sometimes from the spawn, so it lands in startup and recovery).
// After each kill it reopens the store and proves, group by group, that the recovered state (hard state,
// offset, snapshot, and every entry's index, term, kind and payload hash) is exactly what the reported ops
// produce, or that plus the one op that was in flight — never less, never a torn mix — and that the log is
// contiguous. Then it restarts the child on the recovered store. The seed is printed on failure and can be
// set with LOG_STORE_CRASH_SEED. The same test runs a second time with the child writing through the log worker
// (LogWriter: a worker thread, several ops handed over at once and batched into one transaction): there several
// ops may be in flight at the kill, and what recovers must be the reported ops plus a prefix of those — a batch
// lands whole or not at all, in order.
import assert from 'node:assert/strict';
import type { ChildProcessByStdio } from 'node:child_process';
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { Prng } from '@kalam/raft';

import { LogStore } from '../src/index.js';
import type { ChildLine, CrashOp, GroupModel } from './support/crash-model.js';
import { applyOp, emptyModel, modelOf } from './support/crash-model.js';
import { tempDir } from './support/fixtures.js';

const GROUPS = [0, 1, 2, 100, 101, 131, 200];
const KILLS_MIN = 50;
const ROUNDS = 56;
const KILL_DELAY_MS = { min: 5, max: 60 };
/** Fraction of rounds whose kill delay counts from the spawn instead of the ready line. */
const EARLY_KILL_FRACTION = 0.2;
const READY_TIMEOUT_MS = 10_000;
const TEST_TIMEOUT_MS = 60_000;
const CHILD = fileURLToPath(new URL('./support/crash-child.js', import.meta.url));

type Child = ChildProcessByStdio<null, Readable, Readable>;
/** How the child writes: LogStore on its own thread, or LogWriter's worker. */
type Mode = 'sync' | 'worker';

/** One child run: its parsed lines, its exit, and whether it reported ready. */
class ChildRun {
  readonly child: Child;
  readonly lines: ChildLine[] = [];
  stderr = '';
  readonly ready: Promise<void>;
  /** Resolves once the process has exited and its stdout and stderr are drained. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';

  constructor(dbPath: string, seed: number, mode: Mode) {
    this.child = spawn(process.execPath, [CHILD, dbPath, String(seed), GROUPS.join(','), mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      for (const text of parts) {
        const line = JSON.parse(text) as ChildLine;
        this.lines.push(line);
        if (line.t === 'ready') markReady();
      }
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    this.closed = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** A trailing line cut by the kill is ignored: the op it announces had not started, or its done line is lost. */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/**
 * Applies a run's complete lines: ops with a done line are reported; intents without one are in flight, in order
 * (one at most when the child writes on its own thread). Done lines come in intent order.
 */
function replay(
  models: Map<number, GroupModel>,
  lines: readonly ChildLine[],
  mode: Mode,
): { models: Map<number, GroupModel>; inFlight: CrashOp[]; done: number } {
  const inFlight: { seq: number; op: CrashOp }[] = [];
  let done = 0;
  for (const line of lines) {
    if (line.t === 'intent') {
      if (mode === 'sync') assert.equal(inFlight.length, 0, 'two intents without a done');
      inFlight.push({ seq: line.seq, op: line.op });
    } else if (line.t === 'done') {
      const first = inFlight.shift();
      if (first?.seq !== line.seq) assert.fail(`done ${line.seq} does not match the first intent in flight`);
      models = applyOp(models, first.op);
      done++;
    }
  }
  return { models, inFlight: inFlight.map((f) => f.op), done };
}

function recover(dbPath: string): Map<number, GroupModel> {
  const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
  try {
    return new Map(
      GROUPS.map((g) => {
        const state = store.load(g);
        state.entries.forEach((e, i) =>
          assert.equal(e.index, state.offsetIndex + 1 + i, `group ${g}: log not contiguous at ${e.index}`),
        );
        return [g, modelOf(state)];
      }),
    );
  } finally {
    store.close();
  }
}

function sameModels(a: ReadonlyMap<number, GroupModel>, b: ReadonlyMap<number, GroupModel>): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

for (const mode of ['sync', 'worker'] as const) {
  test(
    `SIGKILL at random moments loses no reported write and leaves the log contiguous (${mode === 'sync' ? 'LogStore' : 'LogWriter, the log worker'})`,
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const seed = Number(process.env.LOG_STORE_CRASH_SEED ?? Math.floor(Math.random() * 0x1_0000_0000));
      const prng = new Prng(seed);
      const { dbPath, cleanup } = tempDir('kalam-log-store-crash-');
      const live = new Set<ChildRun>();
      t.after(async () => {
        for (const run of live) run.kill();
        await Promise.all([...live].map((run) => run.closed));
        cleanup();
      });

      let models = new Map(GROUPS.map((g) => [g, emptyModel()]));
      let kills = 0;
      let opsDone = 0;
      let inFlightLanded = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const where = `seed ${seed}, round ${round}`;
        const run = new ChildRun(dbPath, prng.nextU32(), mode);
        live.add(run);
        const early = prng.chance(EARLY_KILL_FRACTION);
        if (!early) {
          const timeout = new AbortController();
          const exitedFirst = await Promise.race([
            run.ready.then(() => false),
            run.closed.then(() => true),
            sleep(READY_TIMEOUT_MS, true, { signal: timeout.signal }),
          ]).finally(() => timeout.abort());
          assert.ok(!exitedFirst, `${where}: the child never became ready:\n${run.stderr}`);
        }
        await sleep(KILL_DELAY_MS.min + prng.int(KILL_DELAY_MS.max - KILL_DELAY_MS.min + 1));
        assert.ok(!run.exited, `${where}: the child exited before the kill:\n${run.stderr}`);
        run.kill();
        const { signal } = await run.closed;
        live.delete(run);
        assert.equal(signal, 'SIGKILL', `${where}: the child ended otherwise:\n${run.stderr}`);
        kills++;

        const reported = replay(models, run.lines, mode);
        opsDone += reported.done;
        const recovered = recover(dbPath);
        // The reported ops plus the first k of those in flight, for some k: each commit lands whole or not at all,
        // and in order — nothing in between.
        let candidate = reported.models;
        let landed = 0;
        while (!sameModels(recovered, candidate)) {
          const next = reported.inFlight[landed];
          if (next === undefined) {
            assert.deepStrictEqual(recovered, reported.models, `${where}: the recovered store is no prefix of the ops`);
            assert.fail(`${where}: the recovered store differs from the reported writes`);
          }
          candidate = applyOp(candidate, next);
          landed++;
        }
        models = candidate;
        if (landed > 0) inFlightLanded++;
      }
      assert.ok(kills >= KILLS_MIN, `only ${kills} kills`);
      assert.ok(opsDone >= ROUNDS, `seed ${seed}: only ${opsDone} ops were reported done across ${ROUNDS} rounds`);
      t.diagnostic(
        `${mode}: seed ${seed}: ${kills} kills, ${opsDone} ops reported, ${inFlightLanded} kills found in-flight ops durable`,
      );
    },
  );
}
