/**
 * The event trace of a run, kept as a running SHA-256 so that two runs of one seed can be compared by a
 * short hash without storing every event.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';

export class Trace {
  private readonly hash: Hash = createHash('sha256');
  events = 0;

  constructor(private readonly listener?: (line: string) => void) {}

  record(line: string): void {
    this.events++;
    this.listener?.(line);
    this.hash.update(line);
    this.hash.update('\n');
  }

  digest(): string {
    return this.hash.copy().digest('hex').slice(0, 16);
  }
}

/** FNV-1a over a string, chained from `seed`: the state machine's rolling digest. */
export function fnv1a(seed: number, text: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export const FNV_OFFSET = 0x811c9dc5;
