// What this proves (issue M7 §4, errors as data): RaftDriver's refusals carry their own codes, mapped from the
// core's by code, never by message — an oversized proposal is TOO_LARGE with the limit in its message (not a
// transfer failure), a malformed forwarding request is BAD_REQUEST (not UNKNOWN_GROUP), and a request for a group
// this node does not host is UNKNOWN_GROUP. (kalamdb's errors test: the engine reports TOO_LARGE as LIMIT_EXCEEDED.)
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LogStore } from '@kalam/log-store';
import { nodeId } from '@kalam/raft';
import type { AppliedEntry, RaftDriver, StateMachine } from '../src/index.js';
import { MultiRaftError } from '../src/index.js';
import { singleNodeDriver } from './support/single-node.js';

class Noop implements StateMachine {
  applied = 0;
  apply(entries: readonly AppliedEntry[]): unknown[] {
    return entries.map((e) => {
      this.applied = e.index;
      return e.index;
    });
  }
  appliedIndex(): number {
    return this.applied;
  }
  sync(): number {
    return this.appliedIndex(); // in memory, it lives as long as the test
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(s: { index: number }): void {
    this.applied = s.index;
  }
}

/** A one-node driver over an in-memory log store; its writes complete at once, as raft.db's do. */
function node(limits: { entryBytesMax?: number } = {}): { driver: RaftDriver; turn: () => void } {
  const store = LogStore.open({ path: ':memory:', groupIds: [1] });
  return singleNodeDriver(store, [new Noop()], {
    ...(limits.entryBytesMax !== undefined ? { limits: { entryBytesMax: limits.entryBytesMax } } : {}),
  });
}

async function refusal(p: Promise<unknown>): Promise<MultiRaftError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MultiRaftError, `a MultiRaftError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

test('an oversized proposal is TOO_LARGE, with the limit in its message', async () => {
  const { driver } = node({ entryBytesMax: 1024 });
  assert.ok(driver.isLeader(1));
  const err = await refusal(driver.propose(1, new Uint8Array(4096)));
  assert.equal(err.code, 'TOO_LARGE');
  assert.match(err.message, /1024/);
});

test('a malformed forwarding request is BAD_REQUEST; an unknown method too; an unknown group is UNKNOWN_GROUP', async () => {
  const { driver } = node();
  for (const body of [null, 'x', { groupId: '1', command: new Uint8Array(1) }, { groupId: 1, command: 'text' }]) {
    const err = await refusal(driver.handleRequest(nodeId(2), 'propose', body));
    assert.equal(err.code, 'BAD_REQUEST', JSON.stringify(body));
  }
  assert.equal((await refusal(driver.handleRequest(nodeId(2), 'explode', {}))).code, 'BAD_REQUEST');
  const unknown = await refusal(
    driver.handleRequest(nodeId(2), 'propose', { groupId: 99, command: new Uint8Array(1) }),
  );
  assert.equal(unknown.code, 'UNKNOWN_GROUP');
});
