/**
 * Fault rules: how drills partition and degrade links without root. A rule is set per peer at run time and
 * applies to envelopes, requests and responses alike:
 *
 * - `blockOutbound`: everything this node sends to the peer is dropped (requests to it then time out);
 * - `blockInbound`: everything that arrives from the peer is dropped (its envelopes, its requests, and the
 *   responses to our requests);
 * - `dropRate` in [0, 1]: each item this node sends to the peer is dropped with that probability;
 * - `delayMs` ± `jitterMs`: each item this node sends to the peer leaves that much later (jitter reorders);
 * - `duplicateRate` in [0, 1]: each Raft envelope this node sends to the peer is sent twice with that probability
 *   (Raft must tolerate a message delivered twice). Requests and responses (forwarded proposals) are never
 *   duplicated: they ride one TCP connection, and TCP does not duplicate — a retransmission is the caller's.
 *
 * Drop and delay shape what this node sends; set the rule on both nodes for a lossy or slow link both ways.
 * Sockets stay up under every rule: a blocked peer still reads as connected, exactly like a real partition.
 */
import type { NodeId } from '@kalam/raft';
import { assert } from './assert.js';

export interface FaultRule {
  dropRate?: number;
  delayMs?: number;
  jitterMs?: number;
  blockInbound?: boolean;
  blockOutbound?: boolean;
  duplicateRate?: number;
}

export type OutboundVerdict =
  { readonly kind: 'send' } | { readonly kind: 'drop' } | { readonly kind: 'delay'; readonly delayMs: number };

const SEND: OutboundVerdict = { kind: 'send' };
const DROP: OutboundVerdict = { kind: 'drop' };

export class FaultTable {
  private readonly rules = new Map<NodeId, Readonly<FaultRule>>();

  /** `random` returns a number in [0, 1); tests hand in a seeded one. */
  constructor(private readonly random: () => number = Math.random) {}

  set(peer: NodeId, rule: FaultRule): void {
    const { dropRate = 0, delayMs = 0, jitterMs = 0, duplicateRate = 0 } = rule;
    assert(Number.isFinite(dropRate) && dropRate >= 0 && dropRate <= 1, `dropRate must be in [0, 1], got ${dropRate}`);
    assert(
      Number.isFinite(duplicateRate) && duplicateRate >= 0 && duplicateRate <= 1,
      `duplicateRate must be in [0, 1], got ${duplicateRate}`,
    );
    assert(Number.isFinite(delayMs) && delayMs >= 0, `delayMs must be a finite number >= 0, got ${delayMs}`);
    assert(Number.isFinite(jitterMs) && jitterMs >= 0, `jitterMs must be a finite number >= 0, got ${jitterMs}`);
    this.rules.set(peer, { ...rule });
  }

  clear(peer?: NodeId): void {
    if (peer === undefined) this.rules.clear();
    else this.rules.delete(peer);
  }

  rule(peer: NodeId): Readonly<FaultRule> | undefined {
    return this.rules.get(peer);
  }

  /** Every rule in force, by peer. */
  entries(): { peer: NodeId; rule: Readonly<FaultRule> }[] {
    return [...this.rules].map(([peer, rule]) => ({ peer, rule }));
  }

  /** Whether one Raft envelope about to be sent to `peer` goes twice (never asked for requests or responses). */
  duplicate(peer: NodeId): boolean {
    const rate = this.rules.get(peer)?.duplicateRate ?? 0;
    return rate > 0 && this.random() < rate;
  }

  /** What to do with one item about to be sent to `peer`. */
  outbound(peer: NodeId): OutboundVerdict {
    const rule = this.rules.get(peer);
    if (rule === undefined) return SEND;
    if (rule.blockOutbound === true) return DROP;
    if (rule.dropRate !== undefined && rule.dropRate > 0 && this.random() < rule.dropRate) return DROP;
    const delayMs = this.delayMs(rule);
    return delayMs > 0 ? { kind: 'delay', delayMs } : SEND;
  }

  inboundBlocked(peer: NodeId): boolean {
    return this.rules.get(peer)?.blockInbound === true;
  }

  private delayMs(rule: Readonly<FaultRule>): number {
    const base = rule.delayMs ?? 0;
    const jitter = rule.jitterMs ?? 0;
    if (base === 0 && jitter === 0) return 0;
    // Uniform in [base - jitter, base + jitter], never negative.
    return Math.max(0, base + (this.random() * 2 - 1) * jitter);
  }
}

/**
 * The timers of fault-delayed items, bounded per peer and all cancelled on close, so a delay rule can neither
 * grow memory without bound nor keep a closed transport alive.
 */
export class DelayQueue {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly perPeer = new Map<NodeId, number>();

  constructor(private readonly perPeerMax: number) {}

  /** Runs `fn` after `delayMs`; returns false (and never runs it) when the peer already has the maximum waiting. */
  schedule(peer: NodeId, delayMs: number, fn: () => void): boolean {
    const waiting = this.perPeer.get(peer) ?? 0;
    if (waiting >= this.perPeerMax) return false;
    this.perPeer.set(peer, waiting + 1);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.perPeer.set(peer, (this.perPeer.get(peer) ?? 1) - 1);
      fn();
    }, delayMs);
    this.timers.add(timer);
    return true;
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.perPeer.clear();
  }
}
