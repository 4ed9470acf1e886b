/**
 * Elections seen from outside: the sum over groups of the highest term any node reports grows by at least one with
 * every election (PreVote keeps a failed campaign from raising it), so "the sum did not grow" is "no election".
 * A leadership transfer is an election too, and the nodes' leader balance transfers groups until the leaders are
 * spread within its band, so a settled cluster is one whose leaders are balanced as well (then the balance moves
 * nothing more). And each node's Raft driver timing (GET /v1/api/cluster/status, `driver`), for the failure
 * messages.
 */
import type { ClusterStatus } from '../../src/index.js';
import { request } from './net.js';
import type { KalamNodes } from './nodes.js';

/** GET /v1/api/cluster/status of every node that is running. */
export async function statuses(nodes: KalamNodes, auth: string): Promise<ClusterStatus[]> {
  const running = nodes.ids().filter((id) => nodes.isRunning(id));
  const replies = await Promise.all(running.map((id) => request(nodes.url(id), '/v1/api/cluster/status', { auth })));
  return replies.map((r) => r.body as unknown as ClusterStatus);
}

/**
 * Whether this node sees the leaders within its leader balance's band: every node it reaches leads a number of
 * groups inside it (true when the balance is off: then it never moves anything).
 */
export function balancedIn(s: ClusterStatus): boolean {
  const b = s.leader_balance;
  if (b === null || !b.enabled) return true;
  return s.nodes
    .filter((n) => n.up)
    .every((n) => {
      const led = b.leaders_per_node[String(n.node_id)] ?? 0;
      return led >= b.band.min && led <= b.band.max;
    });
}

/**
 * The sum over groups of the highest term reported, whether every node knows a leader of every group, whether
 * every node sees the leaders balanced (`balancedIn`), and the leader balance's transfers started, over the nodes.
 */
export async function termSum(
  nodes: KalamNodes,
  auth: string,
): Promise<{ sum: number; allLed: boolean; balanced: boolean; transfers: number }> {
  const best = new Map<string, number>();
  let allLed = true;
  let balanced = true;
  let transfers = 0;
  for (const s of await statuses(nodes, auth)) {
    transfers += s.leader_balance?.transfers ?? 0;
    for (const g of s.groups) {
      best.set(g.name, Math.max(best.get(g.name) ?? 0, g.term));
      if (g.leader === null) allLed = false;
    }
    if (!balancedIn(s)) balanced = false;
  }
  return { sum: [...best.values()].reduce((a, b) => a + b, 0), allLed, balanced, transfers };
}

/**
 * Waits until every group has a leader on every node, the leaders are balanced, and the term sum held still for
 * `quietMs`; returns that sum. Bounded by `timeoutMs` (a cluster that keeps electing fails the test here).
 */
export async function settledTermSum(
  nodes: KalamNodes,
  auth: string,
  quietMs = 1_500,
  timeoutMs = 60_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = await termSum(nodes, auth);
  let since = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await termSum(nodes, auth);
    if (now.sum !== last.sum || !now.allLed || !now.balanced) since = Date.now();
    last = now;
    if (now.allLed && now.balanced && Date.now() - since >= quietMs) return now.sum;
    if (Date.now() > deadline) throw new Error(`the cluster did not settle in ${timeoutMs} ms (terms ${now.sum})`);
  }
}

/** Each node's driver timing and leader balance, as a line per node for a failure message. */
export async function driverReport(nodes: KalamNodes, auth: string): Promise<string> {
  const lines = (await statuses(nodes, auth)).map((s) => {
    const b = s.leader_balance;
    const balance =
      b === null ? 'off' : `${b.transfers} (${b.transfers_failed} failed) ${JSON.stringify(b.leaders_per_node)}`;
    return `node ${s.node_id}: ${JSON.stringify(s.driver)}; balance transfers ${balance}`;
  });
  return lines.join('\n');
}
