/**
 * The key-value state machine the multiraft tests and benchmark host: a map per group, kept in memory. The log is
 * compacted up to what `sync` makes durable (the StateMachine contract), so a machine that must survive its process
 * (kv-node) is given a file: `sync` writes the whole map there (atomically: a temporary file, fsync, rename) and a
 * new machine over the same file starts from it. Without a file it lives as long as the object (in-process tests).
 *
 * Commands are JSON: {k, v} sets a key and answers {index, previous}.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { SnapshotData } from '@kalam/raft';
import { snapshotBytes } from '@kalam/raft';
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
  private synced = 0;
  applyCount = 0;

  constructor(private readonly file?: string) {
    if (file === undefined || !existsSync(file)) return;
    const s = JSON.parse(readFileSync(file, 'utf8')) as { applied: number; entries: [string, string][] };
    this.map = new Map(s.entries);
    this.applied = this.synced = s.applied;
  }

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

  sync(): number {
    if (this.file === undefined || this.synced === this.applied) return (this.synced = this.applied);
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, this.snapshot());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    return (this.synced = this.applied);
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ applied: this.applied, entries: [...this.map] }));
  }

  restore(snapshot: { index: number; data: SnapshotData }): void {
    const s = JSON.parse(decoder.decode(snapshotBytes(snapshot.data))) as {
      applied: number;
      entries: [string, string][];
    };
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
