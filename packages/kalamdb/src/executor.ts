/**
 * CommandExecutor: the one way request handlers change or read replicated state (DESIGN.md §7). Handlers
 * call `ctx.executor` and never ask which mode they run in.
 *
 * Every command is checked (validate.ts) before it is proposed, with the rules its state machine checks it with again
 * at apply: a command that could not apply is refused here, as the statement's 4xx, and never reaches a log.
 *
 * - StandaloneExecutor applies each command straight to the state machines (no raft.db, no Raft cost):
 *   the same `apply` path a replica runs, with a local, gap-free index per group.
 * - RaftExecutor proposes through RaftManager and answers with the state machine's response once the
 *   entry is applied on this node; a read barrier is a ReadIndex read point.
 */
import type { GroupSpec } from '@kalam/multiraft';
import { encodeCommand } from './codec.js';
import type {
  DataResponse,
  JobsCommand,
  JobsResponse,
  SharedDataCommand,
  SystemCommand,
  SystemResponse,
  UserDataCommand,
  UsersCommand,
  UsersResponse,
} from './commands.js';
import type { GroupId, ShardingConfig } from './group-id.js';
import { allGroups, dataSharedShard, groupName, groupNumber } from './group-id.js';
import { ColdStore } from './cold/store.js';
import { ChangeFeed } from './live/feed.js';
import { ShardRouter } from './shard-router.js';
import type { KalamStateMachine } from './state/base.js';
import { SharedDataStateMachine, UserDataStateMachine } from './state/data.js';
import { JobsStateMachine } from './state/jobs.js';
import { SystemStateMachine } from './state/system.js';
import { UsersStateMachine } from './state/users.js';
import type { DataStore } from './store.js';
import {
  checkJobsCommand,
  checkSharedDataCommand,
  checkSystemCommand,
  checkUserDataCommand,
  checkUsersCommand,
} from './validate.js';

export interface CommandExecutor {
  executeSystem(cmd: SystemCommand): Promise<SystemResponse>;
  executeUsers(cmd: UsersCommand): Promise<UsersResponse>;
  executeJobs(cmd: JobsCommand): Promise<JobsResponse>;
  executeUserData(userId: string, cmd: UserDataCommand): Promise<DataResponse>;
  executeSharedData(cmd: SharedDataCommand): Promise<DataResponse>;
  /** Resolves once this node's state of `group` reflects every write acknowledged before the call. */
  readBarrier(group: GroupId): Promise<void>;
  isClusterMode(): boolean;
  isLeader(group: GroupId): boolean;
  getLeader(group: GroupId): number | null;
  nodeId(): number;
}

/** Where a node keeps what is not in data.db: flushed Parquet files under `<dataDir>/storage` (cold/store.ts). */
export interface StateMachinesOptions {
  /** null (the default): an in-memory node, which cannot flush. */
  readonly dataDir?: string | null;
  /** This node's id (default 1): names its own folder under an absolute storage path. */
  readonly nodeId?: number;
  /** Rows of flushed files kept decoded in memory (default COLD_LIMITS.cachedRowsMax; node-local). */
  readonly coldCachedRowsMax?: number;
  /**
   * TEST ONLY — the planted bug `unchecked-commands` (state/base.ts): commands are neither checked when planned nor
   * when applied, and apply stops the node on anything but an ApplyError, as Kalam did before. Tests use it to write
   * logs holding entries that used to stop every node.
   */
  readonly uncheckedCommands?: boolean;
  /** TEST ONLY — the planted bug `restoreDropsOtherTables` (StateMachineOptions), for the simulator. */
  readonly restoreDropsOtherTables?: boolean;
  /** TEST ONLY — the planted bug `ignoreClientSessions` (StateMachineOptions): retried writes apply again. */
  readonly ignoreClientSessions?: boolean;
}

/** Every state machine of one node, over one data.db. */
export class StateMachines {
  readonly router: ShardRouter;
  /** The flushed files of every table on this node; `loadCold()` before Raft applies anything. */
  readonly cold: ColdStore;
  readonly system: SystemStateMachine;
  readonly users: UsersStateMachine;
  readonly jobs: JobsStateMachine;
  readonly userShards: UserDataStateMachine[];
  readonly sharedShards: SharedDataStateMachine[];
  /** What the data groups applied, for the node's live queries (live/feed.ts). */
  readonly feed = new ChangeFeed();
  /** The planted bug `unchecked-commands` is on (StateMachinesOptions). */
  readonly uncheckedCommands: boolean;

  constructor(
    readonly store: DataStore,
    readonly sharding: ShardingConfig,
    opts: StateMachinesOptions = {},
  ) {
    this.router = new ShardRouter(sharding);
    this.cold = new ColdStore(store, opts.dataDir ?? null, opts.nodeId ?? 1, opts.coldCachedRowsMax);
    const sm = {
      uncheckedCommands: opts.uncheckedCommands === true,
      restoreDropsOtherTables: opts.restoreDropsOtherTables === true,
      ignoreClientSessions: opts.ignoreClientSessions === true,
    };
    this.uncheckedCommands = sm.uncheckedCommands;
    this.system = new SystemStateMachine(store, sm);
    this.users = new UsersStateMachine(store, sm);
    this.jobs = new JobsStateMachine(store, sm);
    this.userShards = Array.from(
      { length: sharding.numUserShards },
      (_, n) => new UserDataStateMachine(store, n, this.router, this.feed, this.cold, sm),
    );
    this.sharedShards = Array.from(
      { length: sharding.numSharedShards },
      (_, n) => new SharedDataStateMachine(store, n, this.feed, this.cold, sm),
    );
  }

  /** Loads the manifest of flushed files from data.db and checks the files exist (startup, before any apply). */
  loadCold(): void {
    this.cold.load();
  }

  of(group: GroupId): KalamStateMachine<{ readonly type: string }, unknown> {
    switch (group.kind) {
      case 'meta:system':
        return this.system;
      case 'meta:users':
        return this.users;
      case 'meta:jobs':
        return this.jobs;
      case 'data:user':
        return this.userShards[group.shard]!;
      case 'data:shared':
        return this.sharedShards[group.shard]!;
    }
  }

  /** The group specs RaftManager hosts: every group of the layout, each with its state machine. */
  groupSpecs(): GroupSpec[] {
    return allGroups(this.sharding).map((g) => ({ id: groupNumber(g), name: groupName(g), stateMachine: this.of(g) }));
  }
}

/** Routes each command kind to its group; subclasses say how one command reaches a group's state machine. */
abstract class RoutingExecutor implements CommandExecutor {
  constructor(readonly machines: StateMachines) {}

  protected abstract run<R>(group: GroupId, cmd: { readonly type: string }): Promise<R>;
  abstract readBarrier(group: GroupId): Promise<void>;
  abstract isClusterMode(): boolean;
  abstract isLeader(group: GroupId): boolean;
  abstract getLeader(group: GroupId): number | null;
  abstract nodeId(): number;

  executeSystem(cmd: SystemCommand): Promise<SystemResponse> {
    return this.checked({ kind: 'meta:system' }, cmd, checkSystemCommand);
  }

  executeUsers(cmd: UsersCommand): Promise<UsersResponse> {
    return this.checked({ kind: 'meta:users' }, cmd, checkUsersCommand);
  }

  executeJobs(cmd: JobsCommand): Promise<JobsResponse> {
    return this.checked({ kind: 'meta:jobs' }, cmd, checkJobsCommand);
  }

  executeUserData(userId: string, cmd: UserDataCommand): Promise<DataResponse> {
    return this.checked(this.machines.router.groupForUser(userId), cmd, checkUserDataCommand);
  }

  executeSharedData(cmd: SharedDataCommand): Promise<DataResponse> {
    return this.checked(dataSharedShard(0), cmd, checkSharedDataCommand);
  }

  /** Checks the command as its state machine will at apply (throws ApplyError INVALID), then runs it. */
  private async checked<R>(group: GroupId, cmd: { readonly type: string }, check: (v: unknown) => unknown): Promise<R> {
    if (!this.machines.uncheckedCommands) check(cmd);
    return this.run(group, cmd);
  }
}

export class StandaloneExecutor extends RoutingExecutor {
  protected run<R>(group: GroupId, cmd: { readonly type: string }): Promise<R> {
    const sm = this.machines.of(group);
    const index = sm.appliedIndex() + 1;
    const [response] = sm.apply([{ index, term: 0, kind: 'command', data: encodeCommand(cmd) }]);
    return Promise.resolve(response as R);
  }

  readBarrier(_group: GroupId): Promise<void> {
    return Promise.resolve(); // one process, applied synchronously: every acknowledged write is visible
  }

  isClusterMode(): boolean {
    return false;
  }

  isLeader(_group: GroupId): boolean {
    return true;
  }

  getLeader(_group: GroupId): number | null {
    return this.nodeId();
  }

  nodeId(): number {
    return 1;
  }
}

/**
 * What RaftExecutor needs of the node's Raft host: RaftManager in a node process, the bare RaftDriver in the
 * simulator (both are the same driver).
 */
export interface RaftHost {
  readonly nodeId: number;
  propose(groupId: number, command: Uint8Array, options?: { timeoutMs?: number }): Promise<unknown>;
  read(groupId: number, options?: { timeoutMs?: number }): Promise<number>;
  isLeader(groupId: number): boolean;
  leaderOf(groupId: number): number | null;
}

export class RaftExecutor extends RoutingExecutor {
  constructor(
    machines: StateMachines,
    readonly manager: RaftHost,
    private readonly timeoutMs = 5_000,
  ) {
    super(machines);
  }

  protected async run<R>(group: GroupId, cmd: { readonly type: string }): Promise<R> {
    return (await this.manager.propose(groupNumber(group), encodeCommand(cmd), { timeoutMs: this.timeoutMs })) as R;
  }

  async readBarrier(group: GroupId): Promise<void> {
    await this.manager.read(groupNumber(group), { timeoutMs: this.timeoutMs });
  }

  isClusterMode(): boolean {
    return true;
  }

  isLeader(group: GroupId): boolean {
    return this.manager.isLeader(groupNumber(group));
  }

  getLeader(group: GroupId): number | null {
    return this.manager.leaderOf(groupNumber(group));
  }

  nodeId(): number {
    return this.manager.nodeId;
  }
}

/**
 * What request handlers get: the executor and the node's state machines. It is the only place that knows
 * the mode; handlers call `ctx.executor()` and never branch on it.
 */
export class AppContext {
  constructor(
    private readonly commandExecutor: CommandExecutor,
    readonly machines: StateMachines,
  ) {}

  executor(): CommandExecutor {
    return this.commandExecutor;
  }

  isClusterMode(): boolean {
    return this.commandExecutor.isClusterMode();
  }
}
