// What this proves: the 36 groups of the default layout have KalamDB's numeric ids and names, which round
// trip; shard counts come from config and are validated; the shard router's hash is FNV-1a 32 over UTF-8,
// pinned to values computed independently (Python) so that a change to it — which would move users between
// shards on disk — fails here; commands encode canonically (key order does not matter) and round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CommandCodecError,
  ShardRouter,
  allGroups,
  canonicalJson,
  decodeCommand,
  encodeCommand,
  fnv1a32,
  groupFromName,
  groupFromNumber,
  groupName,
  groupNumber,
} from '../src/index.js';
import type { SystemCommand, UserDataCommand } from '../src/index.js';

test('the default layout has 36 groups with KalamDB ids and names', () => {
  const groups = allGroups();
  assert.equal(groups.length, 36);
  assert.deepEqual(groups.slice(0, 3).map(groupNumber), [0, 1, 2]);
  assert.deepEqual(groups.slice(0, 3).map(groupName), ['meta:system', 'meta:users', 'meta:jobs']);
  assert.equal(groupName(groups[3]!), 'data:user:00');
  assert.equal(groupNumber(groups[34]!), 131);
  assert.equal(groupName(groups[34]!), 'data:user:31');
  assert.equal(groupNumber(groups[35]!), 200);
  assert.equal(groupName(groups[35]!), 'data:shared:00');
  for (const g of groups) {
    assert.deepEqual(groupFromNumber(groupNumber(g)), g);
    assert.deepEqual(groupFromName(groupName(g)), g);
  }
});

test('shard counts come from config and are validated', () => {
  assert.equal(allGroups({ numUserShards: 4, numSharedShards: 2 }).length, 9);
  assert.throws(() => allGroups({ numUserShards: 0, numSharedShards: 1 }), /num_user_shards/);
  assert.throws(() => allGroups({ numUserShards: 32, numSharedShards: 0 }), /num_shared_shards/);
  assert.throws(() => groupFromNumber(99), RangeError);
  assert.throws(() => groupFromName('data:user:x'), RangeError);
});

test('the shard router is FNV-1a 32 of the UTF-8 user id, pinned', () => {
  const enc = new TextEncoder();
  // Values from an independent implementation (Python, over str.encode('utf-8')).
  const pinned: [string, number, number][] = [
    ['alice', 0x872213e7, 7],
    ['bob', 0x86c6a0d4, 20],
    ['root', 0x20fd0e45, 5],
    ['user-42', 0x026073ab, 11],
    ['u_00017', 0xa093b197, 23],
    ['用户', 0x1be4cbb9, 25],
    ['a', 0xe40c292c, 12],
  ];
  const router = new ShardRouter();
  for (const [user, hash, shard] of pinned) {
    assert.equal(fnv1a32(enc.encode(user)), hash, user);
    assert.equal(router.userShard(user), shard, user);
    assert.equal(groupNumber(router.groupForUser(user)), 100 + shard);
  }
  assert.equal(new ShardRouter({ numUserShards: 4, numSharedShards: 1 }).userShard('alice'), 0x872213e7 % 4);
  assert.equal(groupName(router.groupForShared()), 'data:shared:00');
  assert.throws(() => router.userShard(''), RangeError);
});

test('commands encode canonically and round trip', () => {
  const a: SystemCommand = { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 };
  const b = { createdAt: 1, createdBy: 'root', namespaceId: 'app', type: 'CreateNamespace' } as const;
  assert.deepEqual(encodeCommand(a), encodeCommand(b));
  const insert: UserDataCommand = {
    type: 'Insert',
    tableId: 'app.notes',
    userId: 'alice',
    rows: [{ id: 1, body: 'hi', done: false, note: null }],
    seqBase: 1_000,
    at: 1_700_000_000_000,
    metaIndex: 12,
  };
  const bytes = encodeCommand(insert);
  assert.deepEqual(decodeCommand(bytes), insert);
  assert.deepEqual(encodeCommand(decodeCommand(bytes)), bytes);
  assert.equal(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }), '{"a":[2,{"c":4,"d":3}],"b":1}');
  assert.throws(() => canonicalJson({ x: NaN }), CommandCodecError);
  assert.throws(() => canonicalJson({ x: 2 ** 60 }), CommandCodecError);
  assert.throws(() => decodeCommand(new Uint8Array([0xff])), CommandCodecError);
  assert.throws(() => decodeCommand(new TextEncoder().encode('[1]')), CommandCodecError);
});
