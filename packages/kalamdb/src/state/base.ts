/**
 * What every Kalam state machine shares: apply a batch in ONE data.db transaction, skipping entries at or
 * below the group's stored applied index (a replay after a crash), each command inside its own savepoint so
 * that it applies whole or not at all; snapshot = the group's whole state; restore = replace it atomically.
 *
 * A command that cannot apply (a table that does not exist, a duplicate key) gets a deterministic `Error`
 * response on every replica. Anything else thrown is a bug and stops the node.
 */
import type { AppliedEntry, StateMachine } from '@kalam/multiraft';
import { CommandCodecError, canonicalJson, decodeCommand } from '../codec.js';
import type { DataStore } from '../store.js';

/** A deterministic refusal: becomes `{type: 'Error', message}` on every node. */
export class ApplyError extends Error {
  override readonly name = 'ApplyError';
  constructor(
    readonly code: 'TABLE_NOT_FOUND' | 'ALREADY_EXISTS' | 'NOT_FOUND' | 'INVALID' | 'CONFLICT' | 'LIMIT_EXCEEDED',
    message: string,
  ) {
    super(message);
  }
}

export interface ErrorResponse {
  readonly type: 'Error';
  readonly code: string;
  readonly message: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export abstract class KalamStateMachine<C extends { readonly type: string }, R> implements StateMachine {
  constructor(
    protected readonly store: DataStore,
    readonly groupId: number,
  ) {}

  protected abstract applyCommand(cmd: C, entry: AppliedEntry): R;
  /** The group's whole state as plain data. */
  protected abstract exportState(): unknown;
  /** Replaces the group's whole state (inside a transaction). */
  protected abstract importState(state: unknown): void;

  apply(entries: readonly AppliedEntry[]): unknown[] {
    return this.store.transaction(() =>
      entries.map((e) => {
        if (e.index <= this.store.appliedIndex(this.groupId)) return undefined;
        const response = e.kind === 'command' ? this.applyOne(e) : undefined;
        this.store.markApplied(this.groupId, e.index, e.term);
        return response;
      }),
    );
  }

  private applyOne(e: AppliedEntry): R | ErrorResponse {
    let cmd: C;
    try {
      cmd = decodeCommand<C>(e.data);
    } catch (err) {
      if (err instanceof CommandCodecError) return { type: 'Error', code: 'INVALID', message: err.message };
      throw err;
    }
    try {
      // A nested better-sqlite3 transaction is a savepoint: a refused command leaves nothing behind.
      return this.store.db.transaction(() => this.applyCommand(cmd, e))();
    } catch (err) {
      if (err instanceof ApplyError) return { type: 'Error', code: err.code, message: err.message };
      throw err;
    }
  }

  appliedIndex(): number {
    return this.store.appliedIndex(this.groupId);
  }

  snapshot(): Uint8Array {
    return encoder.encode(canonicalJson({ version: 1, groupId: this.groupId, state: this.exportState() }));
  }

  restore(snapshot: { index: number; term: number; data: Uint8Array }): void {
    const s = JSON.parse(decoder.decode(snapshot.data)) as { version: number; groupId: number; state: unknown };
    if (s.version !== 1 || s.groupId !== this.groupId) {
      throw new Error(`snapshot of group ${s.groupId} (version ${s.version}) cannot restore group ${this.groupId}`);
    }
    this.store.transaction(() => {
      this.importState(s.state);
      this.store.markApplied(this.groupId, snapshot.index, snapshot.term);
    });
  }
}
