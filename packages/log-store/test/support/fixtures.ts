/**
 * Helpers for the log-store tests: throwaway folders, entries with recognisable payloads, and a comparable
 * view of a group's recovered state (Buffers and Uint8Arrays compare unequal under deepEqual, so payloads
 * are turned into strings).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Entry, HardState, NodeId, Snapshot } from '@kalam/raft';
import { snapshotBytes } from '@kalam/raft';

import type { GroupLogState } from '../../src/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A fresh folder under the OS temp dir; `cleanup` removes it. */
export function tempDir(prefix = 'kalam-log-store-'): { dir: string; dbPath: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, dbPath: join(dir, 'raft.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Entries with the given terms, the first at `first`; each payload names its group, index and term. */
export function entries(terms: readonly number[], first: number, tag = ''): Entry[] {
  return terms.map((term, i) => ({
    index: first + i,
    term,
    kind: 'command',
    data: encoder.encode(`${tag}i${first + i}t${term}`),
  }));
}

export function noop(index: number, term: number): Entry {
  return { index, term, kind: 'noop', data: new Uint8Array(0) };
}

export function hardState(term: number, vote: number, commit: number): HardState {
  return { term, vote: vote as NodeId, commit };
}

export function snapshot(index: number, term: number, text = `snap@${index}`): Snapshot {
  return { index, term, data: encoder.encode(text) };
}

export interface Comparable {
  hardState: HardState;
  offset: [number, number];
  entries: [number, number, string, string][];
  snapshot: [number, number, string] | undefined;
}

/** A deep-equal-friendly view of a recovered group. */
export function comparable(s: GroupLogState): Comparable {
  return {
    hardState: { ...s.hardState },
    offset: [s.offsetIndex, s.offsetTerm],
    entries: s.entries.map((e) => [e.index, e.term, e.kind, decoder.decode(e.data)]),
    snapshot:
      s.snapshot === undefined
        ? undefined
        : [s.snapshot.index, s.snapshot.term, decoder.decode(snapshotBytes(s.snapshot.data))],
  };
}

/** The comparable view of entries built by `entries()` / `noop()`. */
export function expectEntries(list: readonly Entry[]): [number, number, string, string][] {
  return list.map((e) => [e.index, e.term, e.kind, decoder.decode(e.data)]);
}
