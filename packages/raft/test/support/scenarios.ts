/**
 * Scenario scripts shared by the scenario tests and the planted-bug tests: the same deterministic run is played
 * with and without a bug switched on.
 */
import type { Message, MsgApp, PlantedBugs } from '../../src/index.js';
import { StateRole } from '../../src/index.js';
import { Network } from './network.js';

/** Would `m`'s receiver accept this append (does it hold the entry the append follows)? */
export function wouldAccept(net: Network, m: MsgApp): boolean {
  return net.node(m.to).raft.log.matchTerm(m.index, m.logTerm);
}

export function isApp(m: Message): m is MsgApp {
  return m.type === 'MsgApp';
}

/**
 * Raft Figure 8, phases (a)–(c), on five nodes; one entry per append so entries travel one at a time.
 *  (a) node 1 leads term 1 and writes 'a' at index 2 on nodes 1 and 2 only;
 *  (b) node 1 crashes; node 5 is elected for term 2 by 3, 4, 5 and writes its no-op at index 2 on itself only,
 *      then crashes;
 *  (c) node 1 restarts and is elected for term 3 (by 2, 3, 4); it copies 'a' (term 1) to 3 and 4, so 'a' is
 *      on a majority (1, 3, 4), but its own term-3 no-op reaches nobody that could accept it.
 * Returns the network with node 1 leading term 3 and node 5 down.
 */
export function figure8UpToC(plantedBugs?: PlantedBugs): Network {
  const net = new Network({
    size: 5,
    limits: { msgEntriesMax: 1 },
    ...(plantedBugs !== undefined ? { plantedBugs } : {}),
  });
  // (a)
  net.campaign(1);
  for (const id of [3, 4, 5]) net.cut(1, id);
  net.propose(1, 'a');
  // (b)
  net.crash(1);
  net.recover();
  net.ignore('MsgApp');
  net.campaign(5);
  if (net.node(5).raft.role !== StateRole.Leader || net.node(5).raft.term !== 2) throw new Error('(b) failed');
  net.crash(5);
  net.recover();
  // (c)
  net.restart(1);
  net.campaign(1); // term 2: nodes 3 and 4 already voted for 5 in it
  net.dropIf((m) => isApp(m) && m.from === 1 && m.entries.some((e) => e.term === 3) && wouldAccept(net, m));
  net.campaign(1); // term 3
  if (net.node(1).raft.role !== StateRole.Leader || net.node(1).raft.term !== 3) throw new Error('(c) failed');
  return net;
}

/**
 * Figure 8 phase (d): node 1 crashes, node 5 restarts and, its last term (2) being later than anyone's (1),
 * is elected for term 4 and replicates its own log — overwriting index 2 everywhere.
 */
export function figure8D(net: Network): void {
  net.crash(1);
  net.recover();
  net.restart(5);
  net.campaign(5); // term 3: everyone voted for node 1 in it
  net.campaign(5); // term 4
  if (net.node(5).raft.role !== StateRole.Leader) throw new Error('(d) failed');
  net.propose(5, 'after');
  net.ticks(3);
}
