// What this proves (issue [M8] §2, the apply into data.db): with `applyScope`, a driver turn's applies — every
// group's — run inside one call of the scope (a node passes data.db's transaction: one commit per turn, not one per
// group), the log upkeep after them (sync, compaction) runs outside it, and a turn with nothing to apply does not
// open it. Without a scope each group applies on its own, as before.
// How: one single-member driver with three groups over an in-memory LogStore, state machines that record whether
// each apply and sync ran inside the scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LogStore } from '@kalam/log-store';
import type { AppliedEntry, RaftDriver, StateMachine } from '../src/index.js';
import { singleNodeDriver } from './support/single-node.js';

const scope = { depth: 0, opened: 0 };

/** Records, for each apply and sync, whether it ran inside the scope. */
class Witness implements StateMachine {
  applied = 0;
  readonly appliesInScope: boolean[] = [];
  readonly syncsInScope: boolean[] = [];
  apply(entries: readonly AppliedEntry[]): unknown[] {
    this.appliesInScope.push(scope.depth > 0);
    return entries.map((e) => (this.applied = e.index));
  }
  appliedIndex(): number {
    return this.applied;
  }
  sync(): number {
    this.syncsInScope.push(scope.depth > 0);
    return this.applied;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.applied));
  }
  restore(s: { index: number }): void {
    this.applied = s.index;
  }
}

function node(withScope: boolean): { driver: RaftDriver; machines: Witness[]; turn: () => void; store: LogStore } {
  const store = LogStore.open({ path: ':memory:', groupIds: [1, 2, 3] });
  const machines = [new Witness(), new Witness(), new Witness()];
  const { driver, turn } = singleNodeDriver(store, machines, {
    // Small: the log upkeep syncs the state machines and compacts within the test.
    snapshotThreshold: 4,
    snapshotKeepEntries: 1,
    ...(withScope && {
      applyScope: (applies: () => void) => {
        scope.opened++;
        scope.depth++;
        try {
          applies();
        } finally {
          scope.depth--;
        }
      },
    }),
  });
  return { driver, machines, turn, store };
}

test('applyScope: a turn applies every group inside one scope; the log upkeep runs outside it', async () => {
  const { driver, machines, turn, store } = node(true);
  for (let round = 0; round < 6; round++) {
    const done = [1, 2, 3].map((g) => driver.propose(g, new TextEncoder().encode(`r${round}`)));
    const before = scope.opened;
    turn();
    await Promise.all(done);
    assert.equal(scope.opened - before, 1, `round ${round}: one scope for the three groups' applies`);
  }
  for (const sm of machines) {
    assert.ok(sm.appliesInScope.length >= 6);
    assert.ok(
      sm.appliesInScope.every((inside) => inside),
      'every apply ran inside the scope',
    );
    assert.ok(sm.syncsInScope.length > 0, 'the upkeep synced the state machine');
    assert.ok(
      sm.syncsInScope.every((inside) => !inside),
      'no sync ran inside the scope',
    );
  }
  const idle = scope.opened;
  turn();
  turn();
  assert.equal(scope.opened, idle, 'turns with nothing to apply open no scope');
  driver.stop();
  store.close();
});

test('without applyScope each group applies on its own', async () => {
  const { driver, machines, turn, store } = node(false);
  const opened = scope.opened;
  const done = [1, 2, 3].map((g) => driver.propose(g, new TextEncoder().encode('x')));
  turn();
  await Promise.all(done);
  assert.equal(scope.opened, opened);
  for (const sm of machines) assert.ok(sm.appliesInScope.length > 0 && sm.appliesInScope.every((inside) => !inside));
  driver.stop();
  store.close();
});
