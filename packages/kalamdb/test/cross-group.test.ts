// What this proves (DESIGN.md §6, "KalamDB lost writes on rejoin without this"): a node that rejoins with an
// empty data.db replays each group's log independently, so a user shard can reach an INSERT before this
// node's meta:system has re-created the table. Applied at once, the INSERT is refused (TABLE_NOT_FOUND) on
// this node only and the row is lost here for good — the replicas diverge. Held back by canApply until the
// local meta:system has applied the index the command was planned against, it applies exactly as it did on
// the other nodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppliedEntry } from '@kalam/multiraft';
import { DataStore, ShardRouter, SystemStateMachine, UserDataStateMachine, encodeCommand } from '../src/index.js';
import type { AnyCommand, SystemCommand, TableSchema, UserDataCommand } from '../src/index.js';

const router = new ShardRouter();
const schema: TableSchema = {
  columns: [
    { name: 'id', type: 'BIGINT', notNull: true, default: null },
    { name: 'v', type: 'TEXT', notNull: false, default: null },
  ],
  primaryKey: 'id',
  options: {},
};
const metaLog: SystemCommand[] = [
  { type: 'CreateNamespace', namespaceId: 'app', createdBy: null, createdAt: 1 },
  { type: 'CreateTable', tableId: 'app.t', tableType: 'USER', schema, createdAt: 2 },
];
// Planned by a node whose meta:system had applied index 2 (the CreateTable).
const shardLog: UserDataCommand[] = [
  { type: 'Insert', tableId: 'app.t', userId: 'alice', rows: [{ id: 1, v: 'kept' }], seqBase: 1, at: 3, metaIndex: 2 },
];

const entries = (cmds: readonly AnyCommand[]): AppliedEntry[] =>
  cmds.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) }));

function replica(): { system: SystemStateMachine; shard: UserDataStateMachine } {
  const store = DataStore.open(':memory:');
  return {
    system: new SystemStateMachine(store),
    shard: new UserDataStateMachine(store, router.userShard('alice'), router),
  };
}

/** Replays the shard's log first (it is ahead), then meta:system's, each group on its own — as a rejoin does. */
function rejoin(honourOrder: boolean): UserDataStateMachine {
  const b = replica();
  const pending = entries(shardLog);
  const drain = (): void => {
    while (pending.length > 0 && (!honourOrder || b.shard.canApply(pending[0]!))) b.shard.apply([pending.shift()!]);
  };
  drain(); // the shard's entries arrive before meta:system has replayed anything
  for (const e of entries(metaLog)) {
    b.system.apply([e]);
    drain();
  }
  return b.shard;
}

test('a rejoining node applies a data entry only after the meta:system index it was planned against', () => {
  const a = replica();
  a.system.apply(entries(metaLog));
  a.shard.apply(entries(shardLog));
  const expected = a.shard.userRows('app.t', 'alice');
  assert.deepEqual(
    expected.map((r) => r.v),
    ['kept'],
  );

  const ordered = rejoin(true);
  assert.deepEqual(ordered.userRows('app.t', 'alice'), expected, 'with the wait, the rejoined replica matches');
  assert.deepEqual(ordered.snapshot(), a.shard.snapshot());

  const unordered = rejoin(false);
  assert.deepEqual(unordered.userRows('app.t', 'alice'), [], 'without it, the row is lost on the rejoined node');
  assert.equal(unordered.appliedIndex(), 1, '… although the entry counts as applied: it will never be retried');
  assert.notDeepEqual(unordered.snapshot(), a.shard.snapshot(), 'the replicas diverged');
});
