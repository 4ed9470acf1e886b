// What this proves: RaftDriver over the log worker (LogWriter), wired as RaftManager wires it — proposals are
// answered once their write is durable in the worker; and when the worker fails (an injected fsync error) the node
// acknowledges nothing more: a proposal made after the failure is never answered with success (it times out, its
// outcome unknown), its entry is never applied, and the failure is reported once, for the node to stop.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { LogStore, LogWriter } from '@kalam/log-store';
import type { LogWorkerError } from '@kalam/log-store';
import { nodeId } from '@kalam/raft';
import type { AppliedEntry, StateMachine } from '../src/index.js';
import { MultiRaftError, RaftDriver, resolveTiming } from '../src/index.js';

class Log implements StateMachine {
  applied = 0;
  readonly seen: string[] = [];
  apply(entries: readonly AppliedEntry[]): unknown[] {
    return entries.map((e) => {
      this.applied = e.index;
      if (e.kind !== 'command') return undefined;
      this.seen.push(new TextDecoder().decode(e.data));
      return this.seen.length;
    });
  }
  appliedIndex(): number {
    return this.applied;
  }
  sync(): number {
    return this.applied; // in memory, it lives as long as the test
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(s: { index: number }): void {
    this.applied = s.index;
  }
}

test('over the log worker, proposals are answered once durable; after a worker failure nothing is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-driver-log-worker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'raft.db');
  const store = LogStore.open({ path, groupIds: [1] });
  const state = store.load(1);
  store.close();
  const fatal: LogWorkerError[] = [];
  const writer = await LogWriter.start({ path, groupIds: [1], onFatal: (e) => fatal.push(e) });
  t.after(() => writer.close());
  const sm = new Log();
  const timers = new Set<NodeJS.Timeout>();
  const driver = new RaftDriver({
    nodeId: nodeId(1),
    voters: [nodeId(1)],
    groups: [{ id: 1, name: 'g1', stateMachine: sm }],
    ticks: resolveTiming(undefined),
    seed: 1,
    storage: {
      load: () => state,
      write: (writes, done) => writer.write(writes, done),
      compactLog: (g, to, toTerm) => writer.compactLog(g, to, toTerm),
    },
    network: {
      send: () => undefined,
      flush: () => undefined,
      request: () => Promise.reject(new Error('no peers')),
      peerConnected: () => false,
    },
    clock: {
      now: () => performance.now(),
      after: (ms, fn) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          fn();
        }, ms);
        timers.add(timer);
        return () => {
          clearTimeout(timer);
          timers.delete(timer);
        };
      },
      soon: (fn) => void setImmediate(fn),
    },
  });
  t.after(() => {
    driver.stop();
    for (const timer of timers) clearTimeout(timer);
  });
  driver.tick(); // a single member campaigns at once
  const deadline = performance.now() + 5_000;
  while (!driver.isLeader(1) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(driver.isLeader(1));

  const answers = await Promise.all(['a', 'b', 'c'].map((v) => driver.propose(1, new TextEncoder().encode(v))));
  assert.deepEqual(answers, [1, 2, 3]);
  assert.ok(writer.stats().transactions >= 1);

  writer.injectFault('io-error');
  await assert.rejects(
    driver.propose(1, new TextEncoder().encode('lost'), { timeoutMs: 1_000 }),
    (err: unknown) => err instanceof MultiRaftError && err.code === 'TIMEOUT',
  );
  assert.deepEqual(sm.seen, ['a', 'b', 'c'], 'the entry whose write failed was never applied');
  assert.equal(fatal.length, 1);
  assert.equal(fatal[0]?.code, 'LOG_WORKER');
  assert.ok(driver.isWriting(), 'the driver stays blocked in the failed write: no turn, no acknowledgement');
});
