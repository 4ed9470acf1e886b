/**
 * ChangeFeed: how a node's data state machines tell the live-query layer what they applied. Events are queued while
 * an apply batch runs and delivered by `flush()` once its transaction has committed (a refused command's savepoint
 * rolls back and reports nothing), synchronously, in apply order. Because apply and every listener run on the one
 * JavaScript thread, a listener that reads state and registers a subscriber in one synchronous step sees either
 * all of a batch (in the state it reads) or none of it (in the events it receives) — never half.
 */
import type { FeedEvent } from './types.js';

export type FeedListener = (event: FeedEvent) => void;

export class ChangeFeed {
  private readonly listeners = new Set<FeedListener>();
  private pending: FeedEvent[] = [];

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Queues an event of the batch being applied. */
  push(event: FeedEvent): void {
    if (this.listeners.size > 0) this.pending.push(event);
  }

  /** Drops the queued events (the batch's transaction did not commit). */
  discard(): void {
    this.pending = [];
  }

  /** Delivers the queued events, in order, to every listener. */
  flush(): void {
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    for (const e of events) for (const l of this.listeners) l(e);
  }
}
