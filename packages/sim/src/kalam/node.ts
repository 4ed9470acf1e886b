/**
 * A simulated Kalam node process: the shipped driver over a simulated raft.db (process.ts), every group's real
 * kalamdb state machine over its own data.db, and on top the same executor (RaftExecutor) and SQL engine that
 * `kalam serve` puts behind its HTTP API. data.db lives in memory and survives a crash, as the file does: a restart
 * opens it again, restores each group whose durable snapshot is ahead of it and replays the committed entries after
 * its applied index. Now and then a crash is a machine's (power lost): data.db loses what it had not made durable —
 * it comes back as it was at its last sync (DataStore.sync: the Raft log is compacted only up to that), and the next
 * life replays raft.db's entries after it (which is why apply must be idempotent). A disk loss (`wipe`) loses
 * raft.db too: the node comes back empty, recovers (Raft.recovering) and rejoins by snapshot.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { GroupSpec, RaftDriver } from '@kalam/multiraft';
import type { NodeId } from '@kalam/raft';
import type { GroupId, Passwords, RaftHost, ShardingConfig, StateMachinesOptions, TestSwitches } from '@kalam/kalamdb';
import { DataStore, JobManager, RaftExecutor, SqlEngine, StateMachines, allGroups, groupNumber } from '@kalam/kalamdb';
import { SimProcess } from '../process.js';

/** What a Kalam node needs from the run around it. */
export interface KalamNodeHost {
  /** Simulated milliseconds since the epoch of the run (the engine's clock). */
  now(): number;
  /** Runs `fn` after the current event (the engine's "next event-loop iteration"). */
  defer(node: NodeId, fn: () => void): void;
  /** The run's scratch folder for flushed files (a node's life gets its own folder under it). */
  readonly dir: string;
  readonly machineOptions: StateMachinesOptions;
  /** Resolves after `ms` of simulated time, unless `node`'s life ends first (then never). */
  sleep(node: NodeId, ms: number): Promise<void>;
  /** The job manager's test switches: a retention schedule of its own, so retention runs within a seed. */
  readonly jobSwitches: TestSwitches;
  /** When set, every Raft call the executor makes (and its end) is written here: a debugging trace. */
  readonly raftCalls?: (line: string) => void;
}

export class KalamNode extends SimProcess {
  machines!: StateMachines;
  engine!: SqlEngine;
  /** This life's job manager (flush, compaction, retention), polled by the simulation. */
  jobs: JobManager | undefined;
  readonly layout: GroupId[];
  private store: DataStore | undefined;
  private dataDir = '';
  /** Set by the simulation before a crash: whether data.db loses what it had not synced (a machine crash). */
  loseDataOnCrash = false;
  /** data.db as durable at its last sync: what a machine crash leaves of it. */
  private syncedImage: Buffer | undefined;
  private lives = 0;

  constructor(
    id: NodeId,
    private readonly sharding: ShardingConfig,
    private readonly host: KalamNodeHost,
  ) {
    const layout = allGroups(sharding);
    super(id, layout.map(groupNumber));
    this.layout = layout;
  }

  /**
   * The groups of a new life over data.db as the last life left it — or over a fresh one (and a fresh
   * flushed-files folder) after the disk or data.db was lost: then the driver restores each group's snapshot into
   * it and replays the entries after it. Either way the node opens data.db as `kalam serve` does on a restart.
   */
  groupSpecs(): GroupSpec[] {
    if (this.store === undefined) {
      if (this.syncedImage === undefined || this.dataDir === '') {
        const dataDir = join(this.host.dir, `n${this.id}-life${++this.lives}`);
        mkdirSync(dataDir, { recursive: true });
        this.dataDir = dataDir;
      }
      const store = DataStore.open(this.syncedImage ?? ':memory:');
      store.onSync = () => void (this.syncedImage = store.db.serialize());
      this.store = store;
    }
    this.machines = new StateMachines(this.store, this.sharding, {
      ...this.host.machineOptions,
      dataDir: this.dataDir,
      nodeId: this.id,
    });
    this.machines.loadCold(); // the flushed files' manifest, before Raft applies anything (as `kalam serve` does)
    return this.machines.groupSpecs();
  }

  /** The executor and engine of this life, once its driver exists (`kalam serve` builds them the same way). */
  attach(): void {
    const driver = this.driver;
    if (driver === undefined) throw new Error(`node ${this.id} has no driver`);
    const executor = new RaftExecutor(this.machines, this.traced(driver), 2_000);
    // The job manager `kalam serve` runs, on this node's simulated clock: the simulation polls it (`pollJobs`).
    this.jobs = new JobManager({
      executor,
      machines: this.machines,
      onLeaderChange: (fn) => {
        driver.events.on('leaderChange', fn);
        return () => void driver.events.off('leaderChange', fn);
      },
      now: () => this.host.now(),
      sleep: (ms) => this.host.sleep(this.id, ms),
      testSwitches: this.host.jobSwitches,
    });
    this.jobs.watchLeadership();
    this.engine = new SqlEngine({
      executor,
      machines: this.machines,
      nodeId: this.id,
      now: () => this.host.now(),
      monotonicNow: () => this.host.now(),
      defer: (fn) => this.host.defer(this.id, fn),
      parseOnThread: true,
      passwords: SIM_PASSWORDS,
    });
  }

  /** The driver as the executor sees it; with `raftCalls`, each propose and read is traced from start to end. */
  private traced(driver: RaftDriver): RaftHost {
    const log = this.host.raftCalls;
    if (log === undefined) return driver;
    const call = <T>(what: string, run: () => Promise<T>): Promise<T> => {
      const at = this.host.now();
      log(`${at} n${this.id} ${what}`);
      return run().then(
        (v) => (log(`${this.host.now()} n${this.id} ${what} from ${at}: ok`), v),
        (e: unknown) => {
          log(`${this.host.now()} n${this.id} ${what} from ${at}: ${(e as { code?: string }).code ?? String(e)}`);
          throw e;
        },
      );
    };
    return {
      nodeId: driver.nodeId,
      propose: (g, c, o) => call(`propose g${g}`, () => driver.propose(g, c, o)),
      read: (g, o) => call(`read g${g}`, () => driver.read(g, o)),
      isLeader: (g) => driver.isLeader(g),
      leaderOf: (g) => driver.leaderOf(g),
    };
  }

  /** A lost disk: raft.db and data.db are gone (the node is down; it comes back empty). */
  wipe(): void {
    this.wipeDisk();
    this.close();
  }

  /**
   * The process dies. data.db keeps what was applied (each apply is one SQLite transaction, and the file outlives
   * the process), unless `loseDataOnCrash` (the machine went down): then it keeps only what its last sync made
   * durable, and the next life replays the rest from raft.db. The flushed files stay (they are fsynced on write).
   */
  override crash(): void {
    super.crash();
    this.jobs = undefined; // its pass, if any, waits on promises of the ended life that never settle
    if (this.loseDataOnCrash) {
      this.store?.close();
      this.store = undefined;
    }
  }

  /** Closes raft.db at the end of the run. */
  closeDisk(): void {
    this.disk.close();
  }

  /** Closes data.db (and forgets its folder) at the end of a life or of the run. */
  close(): void {
    this.store?.close();
    this.store = undefined;
    this.syncedImage = undefined;
    this.dataDir = '';
    if (this.lives > 0) rmSync(join(this.host.dir, `n${this.id}-life${this.lives}`), { recursive: true, force: true });
  }
}

/**
 * Passwords in a simulated node: a SHA-256 stand-in for scrypt that answers at once. scrypt answers from libuv's
 * thread pool at a wall-clock moment the seeded event order cannot place, and salts at random (password.ts).
 */
const SIM_PASSWORDS: Passwords = {
  hash: (password) => Promise.resolve(simHash(password)),
  verify: (password, encoded) => Promise.resolve(simHash(password) === encoded),
  dummy: () => Promise.resolve(simHash('')),
};

function simHash(password: string): string {
  return `sim-sha256$${createHash('sha256').update(password).digest('base64')}`;
}
