/**
 * ShardRouter: which user shard holds a user's rows and live queries.
 *
 *   shard(userId) = fnv1a32(utf8(userId)) mod numUserShards
 *
 * FNV-1a, 32-bit: offset basis 0x811c9dc5, prime 0x01000193, over the UTF-8 bytes of the user id. It is
 * stable across nodes, versions and platforms (KalamDB used Rust's DefaultHasher, which is not), and it is
 * part of the on-disk format: changing it would move users between shards. test/shard-router.test.ts pins
 * known user ids to known shards.
 */
import type { GroupId, ShardingConfig } from './group-id.js';
import { DEFAULT_SHARDING, dataSharedShard, dataUserShard, validateSharding } from './group-id.js';

const encoder = new TextEncoder();

export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class ShardRouter {
  constructor(readonly sharding: ShardingConfig = DEFAULT_SHARDING) {
    validateSharding(sharding);
  }

  /** The user shard number in [0, numUserShards). */
  userShard(userId: string): number {
    if (userId.length === 0) throw new RangeError('a user id must not be empty');
    return fnv1a32(encoder.encode(userId)) % this.sharding.numUserShards;
  }

  /** The group holding `userId`'s USER-table rows and live queries. */
  groupForUser(userId: string): GroupId {
    return dataUserShard(this.userShard(userId));
  }

  /** SHARED-table rows live in shared shard 0 (KalamDB routes every shared table there). */
  groupForShared(): GroupId {
    return dataSharedShard(0);
  }
}
