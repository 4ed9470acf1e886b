/**
 * The Raft groups of a Kalam cluster (DESIGN.md §1): three metadata groups, `numUserShards` user-data shards
 * and `numSharedShards` shared-data shards. Numeric ids and names are KalamDB's and are part of the on-disk
 * format (raft.db tables are named after the numeric id): never renumber them.
 */
export const GroupKind = {
  MetaSystem: 'meta:system',
  MetaUsers: 'meta:users',
  MetaJobs: 'meta:jobs',
  DataUserShard: 'data:user',
  DataSharedShard: 'data:shared',
} as const;
export type GroupKind = (typeof GroupKind)[keyof typeof GroupKind];

export type GroupId =
  | { readonly kind: 'meta:system' }
  | { readonly kind: 'meta:users' }
  | { readonly kind: 'meta:jobs' }
  | { readonly kind: 'data:user'; readonly shard: number }
  | { readonly kind: 'data:shared'; readonly shard: number };

export interface ShardingConfig {
  readonly numUserShards: number;
  readonly numSharedShards: number;
}

export const DEFAULT_SHARDING: ShardingConfig = { numUserShards: 32, numSharedShards: 1 };

/** Bounds of the numeric id ranges: user shards live in [100, 200), shared shards in [200, 300). */
export const GROUP_LIMITS = {
  userShardsMax: 100,
  sharedShardsMax: 100,
  userShardBase: 100,
  sharedShardBase: 200,
} as const;

export const MetaSystem: GroupId = { kind: 'meta:system' };
export const MetaUsers: GroupId = { kind: 'meta:users' };
export const MetaJobs: GroupId = { kind: 'meta:jobs' };

export function dataUserShard(shard: number): GroupId {
  return { kind: 'data:user', shard };
}

export function dataSharedShard(shard: number): GroupId {
  return { kind: 'data:shared', shard };
}

export function validateSharding(s: ShardingConfig): void {
  if (!Number.isInteger(s.numUserShards) || s.numUserShards < 1 || s.numUserShards > GROUP_LIMITS.userShardsMax) {
    throw new RangeError(
      `num_user_shards must be an integer in [1, ${GROUP_LIMITS.userShardsMax}], got ${s.numUserShards}`,
    );
  }
  if (
    !Number.isInteger(s.numSharedShards) ||
    s.numSharedShards < 1 ||
    s.numSharedShards > GROUP_LIMITS.sharedShardsMax
  ) {
    throw new RangeError(
      `num_shared_shards must be an integer in [1, ${GROUP_LIMITS.sharedShardsMax}], got ${s.numSharedShards}`,
    );
  }
}

/** The numeric id: 0, 1, 2 for the meta groups, 100 + n for user shard n, 200 + n for shared shard n. */
export function groupNumber(g: GroupId): number {
  switch (g.kind) {
    case 'meta:system':
      return 0;
    case 'meta:users':
      return 1;
    case 'meta:jobs':
      return 2;
    case 'data:user':
      return GROUP_LIMITS.userShardBase + g.shard;
    case 'data:shared':
      return GROUP_LIMITS.sharedShardBase + g.shard;
  }
}

/** `meta:system`, …, `data:user:07`, `data:shared:00`. */
export function groupName(g: GroupId): string {
  switch (g.kind) {
    case 'meta:system':
    case 'meta:users':
    case 'meta:jobs':
      return g.kind;
    case 'data:user':
    case 'data:shared':
      return `${g.kind}:${String(g.shard).padStart(2, '0')}`;
  }
}

export function groupFromNumber(n: number): GroupId {
  if (n === 0) return MetaSystem;
  if (n === 1) return MetaUsers;
  if (n === 2) return MetaJobs;
  if (Number.isInteger(n) && n >= GROUP_LIMITS.userShardBase && n < GROUP_LIMITS.sharedShardBase) {
    return dataUserShard(n - GROUP_LIMITS.userShardBase);
  }
  if (
    Number.isInteger(n) &&
    n >= GROUP_LIMITS.sharedShardBase &&
    n < GROUP_LIMITS.sharedShardBase + GROUP_LIMITS.sharedShardsMax
  ) {
    return dataSharedShard(n - GROUP_LIMITS.sharedShardBase);
  }
  throw new RangeError(`no group has the numeric id ${n}`);
}

export function groupFromName(name: string): GroupId {
  if (name === 'meta:system') return MetaSystem;
  if (name === 'meta:users') return MetaUsers;
  if (name === 'meta:jobs') return MetaJobs;
  const m = /^data:(user|shared):(\d{2,})$/.exec(name);
  if (m === null) throw new RangeError(`no group is named ${JSON.stringify(name)}`);
  const shard = Number(m[2]);
  return m[1] === 'user' ? dataUserShard(shard) : dataSharedShard(shard);
}

/** Every group of a cluster, in numeric-id order: 3 + numUserShards + numSharedShards (36 by default). */
export function allGroups(s: ShardingConfig = DEFAULT_SHARDING): GroupId[] {
  validateSharding(s);
  const out: GroupId[] = [MetaSystem, MetaUsers, MetaJobs];
  for (let n = 0; n < s.numUserShards; n++) out.push(dataUserShard(n));
  for (let n = 0; n < s.numSharedShards; n++) out.push(dataSharedShard(n));
  return out;
}
