/**
 * RequestReads: the executor one request (a batch of statements) runs with. It takes at most one read barrier per group
 * for the whole request — the first statement that reads a group starts it, every later read of that group in the
 * request waits for the same one — and passes everything else to the node's executor.
 *
 * Why one barrier covers the whole request. A barrier started at time t0 resolves once this node has applied a read
 * index that covers every write acknowledged before t0 (ReadIndex, Raft thesis §6.4); t0 is after the request began.
 * The request is one operation to its client: it cannot tell when its second statement started, only when the request
 * did. So a statement's read needs to see every write acknowledged before the request began, which the barrier's
 * index covers — and the request's own earlier writes, which it also sees, because a write is answered only once this
 * node applied it (RaftDriver.propose). A node's applied index never goes back, so each later read is at a log prefix
 * at least as long as the earlier one: the reads of a request stay in log order, as the statements are. A barrier that
 * failed is forgotten, so a later statement asks again.
 */
import type { CommandExecutor } from '../executor.js';
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
} from '../commands.js';
import type { GroupId } from '../group-id.js';
import { groupNumber } from '../group-id.js';

export class RequestReads implements CommandExecutor {
  /** The barrier of each group this request has started, by group number (pending or resolved). */
  private readonly barriers = new Map<number, Promise<void>>();

  constructor(private readonly inner: CommandExecutor) {}

  readBarrier(group: GroupId): Promise<void> {
    const key = groupNumber(group);
    const known = this.barriers.get(key);
    if (known !== undefined) return known;
    const barrier = this.inner.readBarrier(group);
    this.barriers.set(key, barrier);
    barrier.catch(() => {
      if (this.barriers.get(key) === barrier) this.barriers.delete(key);
    });
    return barrier;
  }

  /**
   * Starts the group's barrier now, without waiting for it: a statement that will read the group after another one
   * (a SELECT reads the catalog's meta:system, then its table's rows) runs both rounds at once. Whoever later awaits
   * `readBarrier(group)` sees its outcome.
   */
  prefetch(group: GroupId): void {
    this.readBarrier(group).catch(() => undefined);
  }

  executeSystem(cmd: SystemCommand): Promise<SystemResponse> {
    return this.inner.executeSystem(cmd);
  }

  executeUsers(cmd: UsersCommand): Promise<UsersResponse> {
    return this.inner.executeUsers(cmd);
  }

  executeJobs(cmd: JobsCommand): Promise<JobsResponse> {
    return this.inner.executeJobs(cmd);
  }

  executeUserData(userId: string, cmd: UserDataCommand): Promise<DataResponse> {
    return this.inner.executeUserData(userId, cmd);
  }

  executeSharedData(cmd: SharedDataCommand): Promise<DataResponse> {
    return this.inner.executeSharedData(cmd);
  }

  isClusterMode(): boolean {
    return this.inner.isClusterMode();
  }

  isLeader(group: GroupId): boolean {
    return this.inner.isLeader(group);
  }

  getLeader(group: GroupId): number | null {
    return this.inner.getLeader(group);
  }

  nodeId(): number {
    return this.inner.nodeId();
  }
}
