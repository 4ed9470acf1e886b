/**
 * What a node's metrics (the server's metrics.ts) are told as it happens: the few figures that cannot be read from
 * cumulative counters at scrape time — how long each durable log write and each apply batch took, and how each
 * proposal made on this node ended. Every hook runs on the driver's event loop, once per write, per apply batch or
 * per proposal (never per entry), and must stay cheap: an increment, a histogram observation.
 */
import { MultiRaftError } from './errors.js';
import type { MultiRaftErrorCode } from './errors.js';

/** How a proposal ended: applied ('ok'), a MultiRaftError's code, or 'OTHER' for anything else (a bug). */
export type ProposalOutcome = 'ok' | MultiRaftErrorCode | 'OTHER';

export interface RaftObserver {
  /** One driver write became durable `ms` after it was handed to raft.db (one transaction, its fsync included). */
  logWritten?(ms: number): void;
  /** One apply batch — `entries` committed entries, one state-machine transaction — took `ms`. */
  applied?(entries: number, ms: number): void;
  /** A proposal made through this node's RaftManager ended (a forwarded one is counted where it was made). */
  proposed?(outcome: ProposalOutcome): void;
}

/** The outcome a proposal's rejection stands for. */
export function outcomeOf(err: unknown): ProposalOutcome {
  return err instanceof MultiRaftError ? err.code : 'OTHER';
}
