/**
 * The key-value state machine the multiraft tests and benchmark host: a map per group, kept in memory.
 * Being in memory, it is rebuilt after a restart from the group's snapshot and the log after it, which is
 * exactly what a state machine without its own durable store must rely on.
 *
 * Commands are JSON: {k, v} sets a key and answers {index, previous}.
 */
import type { AppliedEntry, StateMachine } from '../../src/index.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export interface KvCommand {
  readonly k: string;
  readonly v: string;
}

export class KvStateMachine implements StateMachine {
  private map = new Map<string, string>();
  private applied = 0;
  applyCount = 0;

  apply(entries: readonly AppliedEntry[]): unknown[] {
    return entries.map((e) => {
      if (e.index <= this.applied) return undefined; // a replay
      this.applied = e.index;
      if (e.kind !== 'command') return undefined;
      this.applyCount++;
      const cmd = JSON.parse(decoder.decode(e.data)) as KvCommand;
      const previous = this.map.get(cmd.k) ?? null;
      this.map.set(cmd.k, cmd.v);
      return { index: e.index, previous };
    });
  }

  appliedIndex(): number {
    return this.applied;
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ applied: this.applied, entries: [...this.map] }));
  }

  restore(snapshot: { index: number; data: Uint8Array }): void {
    const s = JSON.parse(decoder.decode(snapshot.data)) as { applied: number; entries: [string, string][] };
    this.map = new Map(s.entries);
    this.applied = snapshot.index;
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  size(): number {
    return this.map.size;
  }

  /** A digest of the whole map, to compare replicas. */
  digest(): string {
    let h = 0x811c9dc5;
    for (const [k, v] of [...this.map].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      for (const ch of `${k}=${v};`) {
        h ^= ch.charCodeAt(0);
        h = Math.imul(h, 0x01000193) >>> 0;
      }
    }
    return h.toString(16);
  }
}

export function kvCommand(k: string, v: string): Uint8Array {
  return encoder.encode(JSON.stringify({ k, v }));
}
