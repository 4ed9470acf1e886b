/**
 * A one-member RaftDriver over an in-memory LogStore, for tests of the driver alone: its log writes complete at
 * once (as raft.db's do with log_writer_thread = false), it has no peers, its clock stands at 0, and "soon" work
 * runs when the test turns the node. The member elects itself in every group on the first turn.
 */
import type { LogStore } from '@kalam/log-store';
import { nodeId } from '@kalam/raft';
import type { DriverOptions, StateMachine } from '../../src/index.js';
import { RaftDriver, resolveTiming } from '../../src/index.js';

/** What a test may set beyond the fixed parts (limits, thresholds, applyScope, …). */
export type SingleNodeOptions = Partial<
  Omit<DriverOptions, 'nodeId' | 'voters' | 'groups' | 'storage' | 'network' | 'clock'>
>;

export function singleNodeDriver(
  store: LogStore,
  machines: readonly StateMachine[],
  options: SingleNodeOptions = {},
): { driver: RaftDriver; turn: () => void } {
  const soon: (() => void)[] = [];
  const driver = new RaftDriver({
    ticks: resolveTiming(undefined),
    seed: 1,
    ...options,
    nodeId: nodeId(1),
    voters: [nodeId(1)],
    groups: machines.map((stateMachine, i) => ({ id: i + 1, name: `g${i + 1}`, stateMachine })),
    storage: {
      load: (g) => store.load(g),
      write: (w, done) => {
        store.write(w);
        done();
      },
      compactLog: (g, off, offTerm) => store.compactLog(g, off, offTerm),
    },
    network: {
      send: () => undefined,
      flush: () => undefined,
      request: () => Promise.reject(new Error('no peers')),
      peerConnected: () => false,
    },
    clock: { now: () => 0, after: () => () => undefined, soon: (fn) => soon.push(fn) },
  });
  const turn = (): void => {
    driver.tick();
    for (let i = 0; i < 100 && soon.length > 0; i++) soon.shift()!();
  };
  turn(); // a single member elects itself
  return { driver, turn };
}
