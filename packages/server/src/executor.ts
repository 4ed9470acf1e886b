/**
 * PatientExecutor: the node's CommandExecutor, wrapping the mode's own one. A read barrier (ReadIndex) is refused
 * for a short while after every election — until the new leader commits an entry of its term (Raft thesis §6.4),
 * or while no leader is known. A read is safe to ask again, so the barrier retries such refusals until a
 * deadline instead of failing the request with 503. Writes are passed through unchanged: a failed proposal may
 * or may not have been committed (a forward that lost its connection), so only the client may decide to retry.
 */
import type {
  CommandExecutor,
  DataResponse,
  GroupId,
  JobsCommand,
  JobsResponse,
  SharedDataCommand,
  SystemCommand,
  SystemResponse,
  UserDataCommand,
  UsersCommand,
  UsersResponse,
} from '@kalam/kalamdb';
import { MultiRaftError } from '@kalam/multiraft';

/** Refusals after which the same read, asked again, may succeed. */
const TRANSIENT_READ_CODES: ReadonlySet<string> = new Set(['READ_REJECTED', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER']);

export interface PatientExecutorOptions {
  /** How long a read barrier keeps retrying. */
  readonly readPatienceMs: number;
  /** Pause between two tries. */
  readonly retryMs: number;
}

export class PatientExecutor implements CommandExecutor {
  constructor(
    private readonly inner: CommandExecutor,
    private readonly opts: PatientExecutorOptions,
  ) {}

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

  async readBarrier(group: GroupId): Promise<void> {
    const deadline = Date.now() + this.opts.readPatienceMs;
    for (;;) {
      try {
        await this.inner.readBarrier(group);
        return;
      } catch (err) {
        const transient = err instanceof MultiRaftError && TRANSIENT_READ_CODES.has(err.code);
        if (!transient || Date.now() + this.opts.retryMs >= deadline) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, this.opts.retryMs));
    }
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
