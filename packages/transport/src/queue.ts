/**
 * A bounded FIFO on a ring buffer: O(1) push, shift and drop-oldest. The per-peer outbound lanes are built on it,
 * so a peer that is down or slow costs at most `capacity` envelopes of memory.
 */
import { assert } from './assert.js';

export class BoundedQueue<T> {
  private readonly items: (T | undefined)[];
  /** Index of the oldest item; the queue holds items [head, head + length) modulo capacity. */
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, `queue capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.count;
  }

  isFull(): boolean {
    return this.count === this.capacity;
  }

  /** Appends `item`; when full, first removes and returns the oldest item. */
  pushDropOldest(item: T): T | undefined {
    const dropped = this.isFull() ? this.shift() : undefined;
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
    return dropped;
  }

  /** Appends `item` unless full; returns whether it was added. */
  tryPush(item: T): boolean {
    if (this.isFull()) return false;
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
    return true;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
    return item;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
