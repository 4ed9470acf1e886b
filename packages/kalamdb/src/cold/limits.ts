/**
 * Bounds of the flushed ("cold") storage that are node-local: they change what this node keeps in memory, never what
 * a replica applies or answers.
 */
import assert from 'node:assert/strict';

export const COLD_LIMITS = {
  /**
   * Rows the cold cache keeps decoded (store.ts): the rows of recently read files plus the merged latest versions of
   * recently read (table, scope)s, each counted by its rows. Beyond it the least recently used entries are dropped
   * and read again from their files when next needed; one entry larger than the whole bound is used and not kept.
   */
  cachedRowsMax: 200_000,
} as const;

assert.ok(COLD_LIMITS.cachedRowsMax >= 1_000, 'room for the files of a few scopes at least');
