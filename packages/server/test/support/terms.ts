/**
 * Elections seen from outside: the sum over groups of the highest term any node reports grows by at least one with
 * every election (PreVote keeps a failed campaign from raising it), so "the sum did not grow" is "no election".
 * And each node's Raft driver timing (GET /v1/api/cluster/status, `driver`), for the failure messages.
 */
import type { ClusterStatus } from '../../src/index.js';
import { request } from './net.js';
import type { KalamNodes } from './nodes.js';

async function statuses(nodes: KalamNodes, auth: string): Promise<ClusterStatus[]> {
  const replies = await Promise.all(
    nodes.ids().map((id) => request(nodes.url(id), '/v1/api/cluster/status', { auth })),
  );
  return replies.map((r) => r.body as unknown as ClusterStatus);
}

/** The sum over groups of the highest term reported, and whether every node knows a leader of every group. */
export async function termSum(nodes: KalamNodes, auth: string): Promise<{ sum: number; allLed: boolean }> {
  const best = new Map<string, number>();
  let allLed = true;
  for (const s of await statuses(nodes, auth)) {
    for (const g of s.groups) {
      best.set(g.name, Math.max(best.get(g.name) ?? 0, g.term));
      if (g.leader === null) allLed = false;
    }
  }
  return { sum: [...best.values()].reduce((a, b) => a + b, 0), allLed };
}

/**
 * Waits until every group has a leader on every node and the term sum held still for `quietMs`; returns that sum.
 * Bounded by `timeoutMs` (a cluster that keeps electing fails the test here).
 */
export async function settledTermSum(
  nodes: KalamNodes,
  auth: string,
  quietMs = 1_500,
  timeoutMs = 30_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = await termSum(nodes, auth);
  let since = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await termSum(nodes, auth);
    if (now.sum !== last.sum || !now.allLed) since = Date.now();
    last = now;
    if (now.allLed && Date.now() - since >= quietMs) return now.sum;
    if (Date.now() > deadline) throw new Error(`the cluster did not settle in ${timeoutMs} ms (terms ${now.sum})`);
  }
}

/** Each node's driver timing, as a line per node for a failure message. */
export async function driverReport(nodes: KalamNodes, auth: string): Promise<string> {
  const lines = (await statuses(nodes, auth)).map((s) => `node ${s.node_id}: ${JSON.stringify(s.driver)}`);
  return lines.join('\n');
}
