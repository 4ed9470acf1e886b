/**
 * The fault-injection and inspection endpoints that `kalam cluster`/`kalam node` and the drills drive. They
 * exist only when the config says `[debug] admin_endpoints = true` (otherwise http.ts answers 404, as for any
 * unknown path) and only for root (Basic or Bearer, as everywhere; any other user gets 403):
 *
 *   GET  /v1/api/admin/faults         {node_id, faults: [{peer, rule}], fsync_delay_ms}
 *   POST /v1/api/admin/faults         {peers: [id…], rule: FaultRule} → replaces the rule toward each peer
 *   POST /v1/api/admin/faults/clear   {peers?: [id…]} → clears the rules toward those peers (default: all)
 *   POST /v1/api/admin/disk           {fsync_delay_ms} → every fsync of the Raft log waits that long (0 clears)
 *   GET  /v1/api/admin/digests        {node_id, groups: {name: {applied, digest}}}
 *
 * A FaultRule is the transport's (packages/transport/src/faults.ts): blockInbound, blockOutbound, dropRate,
 * delayMs, jitterMs, duplicateRate. A digest is the sha256 (hex) of the group's state-machine snapshot bytes,
 * taken in the same synchronous step as its applied index, so two nodes at one applied index have equal digests
 * exactly when their states are equal (snapshots are canonical JSON). Every answer reflects the state after the
 * call, so a caller sees what is in force.
 */
import { createHash } from 'node:crypto';

import { KalamError, allGroups, groupName } from '@kalam/kalamdb';
import type { Session } from '@kalam/kalamdb';
import type { RaftManager } from '@kalam/multiraft';

import type { RunningNode } from './runtime.js';

/** The transport's rule and peer id, as the manager's transport takes them (no direct transport dependency). */
type SetFault = RaftManager['transport']['setFault'];
export type FaultRule = Parameters<SetFault>[1];
type PeerId = Parameters<SetFault>[0];

export const ADMIN_PREFIX = '/v1/api/admin/';

/** The routes, for the 405 of a known path called with the wrong method. */
export const ADMIN_PATHS: readonly string[] = ['faults', 'faults/clear', 'disk', 'digests'].map(
  (p) => `${ADMIN_PREFIX}${p}`,
);

/** Bounds on what a caller may ask for, unit last. */
export const ADMIN_LIMITS = {
  /** An fsync delay beyond this is a hung node, not a slow disk. */
  fsyncDelayMsMax: 60_000,
  /** A link delay (plus jitter) beyond this is a partition, which has its own rule. */
  linkDelayMsMax: 60_000,
  peersMax: 64,
} as const;

export interface FaultsView {
  readonly node_id: number;
  readonly faults: { readonly peer: number; readonly rule: Readonly<FaultRule> }[];
  readonly fsync_delay_ms: number;
}

export interface DigestsView {
  readonly node_id: number;
  readonly groups: Record<string, { readonly applied: number; readonly digest: string }>;
}

/** The fsync delay each node was given (the log store does not report it back). */
const fsyncDelays = new WeakMap<RunningNode, number>();

/**
 * Refuses anyone but root while it holds the system role: the name alone is not enough, because another system user
 * may demote root (ALTER USER root SET ROLE …) and a right must not outlive its grant. `what` names the surface in
 * the refusal (GET /metrics uses this check too).
 */
export function requireRoot(session: Session, what = 'the admin endpoints are'): void {
  if (session.userId !== 'root' || session.role !== 'system') {
    throw new KalamError('PERMISSION_DENIED', `${what} for root, with the system role, only`);
  }
}

/** Runs one admin call; `route` is `METHOD PATH`. Returns undefined for a route that is not an admin route. */
export function runAdmin(node: RunningNode, route: string, body: unknown): FaultsView | DigestsView | undefined {
  switch (route) {
    case `GET ${ADMIN_PREFIX}faults`:
      return faultsView(node);
    case `POST ${ADMIN_PREFIX}faults`: {
      const manager = raftOf(node);
      const input = objectOf(body);
      const peers = peersOf(node, input['peers'], 'peers');
      if (peers === undefined) throw invalid('peers is required: a list of node ids');
      const rule = ruleOf(input['rule']);
      for (const peer of peers) manager.transport.setFault(peer, rule);
      return faultsView(node);
    }
    case `POST ${ADMIN_PREFIX}faults/clear`: {
      const manager = raftOf(node);
      const peers = peersOf(node, body === undefined ? undefined : objectOf(body)['peers'], 'peers');
      if (peers === undefined) manager.transport.clearFaults();
      else for (const peer of peers) manager.transport.clearFaults(peer);
      return faultsView(node);
    }
    case `POST ${ADMIN_PREFIX}disk`: {
      const manager = raftOf(node);
      const ms = objectOf(body)['fsync_delay_ms'];
      if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > ADMIN_LIMITS.fsyncDelayMsMax) {
        throw invalid(`fsync_delay_ms must be an integer from 0 to ${ADMIN_LIMITS.fsyncDelayMsMax}`);
      }
      manager.setFsyncDelayMs(ms);
      fsyncDelays.set(node, ms);
      return faultsView(node);
    }
    case `GET ${ADMIN_PREFIX}digests`:
      return digestsView(node);
    default:
      return undefined;
  }
}

function faultsView(node: RunningNode): FaultsView {
  return {
    node_id: node.nodeId,
    faults: node.manager?.transport.faults().map(({ peer, rule }) => ({ peer: Number(peer), rule })) ?? [],
    fsync_delay_ms: fsyncDelays.get(node) ?? 0,
  };
}

function digestsView(node: RunningNode): DigestsView {
  const groups: DigestsView['groups'] = {};
  for (const g of allGroups(node.machines.sharding)) {
    // Synchronous: no apply can run between the two reads, so the digest is the state at `applied`.
    const machine = node.machines.of(g);
    const applied = machine.appliedIndex();
    const digest = createHash('sha256').update(machine.snapshot()).digest('hex');
    groups[groupName(g)] = { applied, digest };
  }
  return { node_id: node.nodeId, groups };
}

function raftOf(node: RunningNode): RaftManager {
  if (node.manager === undefined) throw invalid('a standalone node has no Raft links or Raft log to fault');
  return node.manager;
}

function invalid(message: string): KalamError {
  return new KalamError('INVALID_INPUT', message);
}

function objectOf(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the body must be a JSON object');
  return body as Record<string, unknown>;
}

function peersOf(node: RunningNode, value: unknown, key: string): PeerId[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > ADMIN_LIMITS.peersMax) {
    throw invalid(`${key} must be a list of at most ${ADMIN_LIMITS.peersMax} node ids`);
  }
  const members = new Set(node.config.cluster?.members.map((m) => m.nodeId) ?? []);
  return value.map((p: unknown) => {
    if (typeof p !== 'number' || !members.has(p) || p === node.nodeId) {
      throw invalid(`${key}: ${JSON.stringify(p)} is not another member of this cluster`);
    }
    return p as PeerId;
  });
}

function ruleOf(value: unknown): FaultRule {
  const input = objectOf(value);
  const rule: FaultRule = {};
  for (const [key, v] of Object.entries(input)) {
    switch (key) {
      case 'blockInbound':
      case 'blockOutbound':
        if (typeof v !== 'boolean') throw invalid(`rule.${key} must be true or false`);
        rule[key] = v;
        break;
      case 'dropRate':
      case 'duplicateRate':
        if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw invalid(`rule.${key} must be a number in [0, 1]`);
        rule[key] = v;
        break;
      case 'delayMs':
      case 'jitterMs':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > ADMIN_LIMITS.linkDelayMsMax) {
          throw invalid(`rule.${key} must be an integer from 0 to ${ADMIN_LIMITS.linkDelayMsMax}`);
        }
        rule[key] = v;
        break;
      default:
        throw invalid(
          `unknown rule key ${key} (known: blockInbound, blockOutbound, dropRate, duplicateRate, delayMs, jitterMs)`,
        );
    }
  }
  return rule;
}
