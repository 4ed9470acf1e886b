/**
 * Every bug that can be planted in the code a Kalam node ships, to prove a checker catches it (`kalam sim
 * --list-bugs`). Each is a test-only option of the layer it lives in — never read from the environment by the
 * code that ships: the core's `plantedBugs` (RawNode), the driver's `bugs` (RaftDriver), the state machines'
 * options (kalamdb). The Raft-level simulation runs the core and the driver; the Kalam-level one runs all three.
 */
import { PLANTED_BUGS } from '@kalam/raft';
import type { PlantedBugName } from '@kalam/raft';

export type PlantedBugLayer = 'core' | 'driver' | 'state-machine';

export const DRIVER_BUGS = [
  'ackBeforeWrite',
  'readBeforeApplied',
  'skipRestoreOnBoot',
  'applyForwardedTwice',
  'joinAskedReadRound',
] as const;
export type DriverBugName = (typeof DRIVER_BUGS)[number];

export const STATE_MACHINE_BUGS = ['uncheckedCommands', 'restoreDropsOtherTables', 'ignoreClientSessions'] as const;
export type StateMachineBugName = (typeof STATE_MACHINE_BUGS)[number];

/** A bug the Raft-level simulation can plant (core or driver). */
export type RaftSimBug = PlantedBugName | DriverBugName;
/** A bug the Kalam-level simulation can plant (any layer). */
export type AnyPlantedBug = RaftSimBug | StateMachineBugName;

export interface PlantedBugInfo {
  readonly name: AnyPlantedBug;
  readonly layer: PlantedBugLayer;
  /** What goes wrong when it is on. */
  readonly what: string;
}

const WHAT: Readonly<Record<AnyPlantedBug, string>> = {
  commitOldTermByCount: 'a leader commits an entry of an earlier term by counting replicas (Raft §5.4.2)',
  grantSecondVote: 'a node grants a second vote in the same term',
  skipUpToDateCheck: 'a node grants a vote without checking the candidate log is up to date (§5.4.1)',
  ackBeforePersist: 'the core acknowledges appends and votes before they are persisted',
  jointCommitIncomingOnly: 'a leader in a joint configuration commits by a majority of the incoming voters alone',
  ackBeforeWrite: 'the driver sends append acknowledgements and votes before the write is durable',
  readBeforeApplied: 'a read is answered once its read index is known, before it is applied here',
  skipRestoreOnBoot: 'a restarted node does not restore its durable snapshots into the state machine',
  applyForwardedTwice: 'a leader appends a proposal forwarded by a follower twice',
  joinAskedReadRound: 'a read joins a ReadIndex round the core was already asked (a read point from before it)',
  uncheckedCommands: "commands are not checked, and an apply that throws on a client's statement stops the node",
  restoreDropsOtherTables: "a data group's restore drops the tables other shards keep rows in",
  ignoreClientSessions: 'a data group applies a row write without its client session: a retried write applies again',
};

export const PLANTED_BUG_LIST: readonly PlantedBugInfo[] = [
  ...PLANTED_BUGS.map((name) => ({ name, layer: 'core' as const, what: WHAT[name] })),
  ...DRIVER_BUGS.map((name) => ({ name, layer: 'driver' as const, what: WHAT[name] })),
  ...STATE_MACHINE_BUGS.map((name) => ({ name, layer: 'state-machine' as const, what: WHAT[name] })),
];

export function isCoreBug(name: string): name is PlantedBugName {
  return (PLANTED_BUGS as readonly string[]).includes(name);
}

export function isDriverBug(name: string): name is DriverBugName {
  return (DRIVER_BUGS as readonly string[]).includes(name);
}

export function isStateMachineBug(name: string): name is StateMachineBugName {
  return (STATE_MACHINE_BUGS as readonly string[]).includes(name);
}

/** The core's and the driver's switches for a planted bug (DriverSetup / RaftDriver options). */
export function driverSwitches(bug: AnyPlantedBug | undefined): {
  coreBugs?: { [K in PlantedBugName]?: boolean };
  bugs?: { [K in DriverBugName]?: boolean };
} {
  if (bug === undefined) return {};
  if (isCoreBug(bug)) return { coreBugs: { [bug]: true } };
  if (isDriverBug(bug)) return { bugs: { [bug]: true } };
  return {};
}
