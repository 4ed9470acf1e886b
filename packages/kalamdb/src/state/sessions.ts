/**
 * Client sessions of a data group (issue [M11] §1, dragonboat's client sessions): a row write that carries a client
 * session `(userId, clientId, createdMs, seq, acked)` applies at most once per seq, and its answer — a refusal too —
 * is remembered until the client acknowledges it, so a retry through any node gets the original answer and applies
 * nothing. Everything lives in data.db, written in the batch's transaction with the data, and is driven only by the
 * command (its `at` is the session clock), so every replica remembers and forgets the same things.
 *
 * Bounds (CLIENT_SESSION_LIMITS): a session idle longer than `ttlMs` (by the group's clock: the largest `at` it
 * applied) expires, a few per apply; at most `sessionsPerGroupMax` sessions (a new one evicts the longest idle) and
 * `answersPerSessionMax` unacknowledged answers per session. A dropped session must not look new — a late retry of a
 * write it applied would apply again — so the group keeps a horizon: the newest `createdMs` of any session it dropped.
 * An unknown session created at or before the horizon is refused SESSION_EXPIRED and never applied; a client id is
 * made fresh (a new `createdMs`) whenever a client starts over, so a session newer than the horizon is truly new.
 */
import type { ClientStamp, DataResponse, ErrorResponse } from '../commands.js';
import { CLIENT_SESSION_LIMITS } from '../limits.js';
import type { DataStore } from '../store.js';
import { SnapshotFormatError } from './snapshot-format.js';

/** The group's session clock and horizon (ms since the epoch; 0 when nothing was ever dropped). */
export interface SessionClock {
  readonly clockMs: number;
  readonly horizonMs: number;
}

/** A session's refusals: deterministic, never remembered (nothing was applied), the state of the data unchanged. */
export type SessionRefusalCode = 'SESSION_EXPIRED' | 'SESSION_STALE' | 'SESSION_WINDOW_FULL';

function refusal(code: SessionRefusalCode, message: string): ErrorResponse {
  return { type: 'Error', code, message };
}

interface SessionRow {
  created_ms: number;
  last_ms: number;
  acked: number;
}

/** The snapshot's pages of sessions and answers read these (RowPager's `client-sessions` records). */
export const SESSION_SNAPSHOT_QUERIES = [
  'SELECT user_id, client_id, created_ms, last_ms, acked FROM client_sessions WHERE group_id = ? ORDER BY user_id, client_id',
  'SELECT user_id, client_id, seq, answer_json FROM client_answers WHERE group_id = ? ORDER BY user_id, client_id, seq',
] as const;

export class ClientSessions {
  constructor(
    private readonly store: DataStore,
    private readonly groupId: number,
  ) {}

  clock(): SessionClock {
    const r = this.store
      .prepare<[number], { clock_ms: number; horizon_ms: number }>(
        'SELECT clock_ms, horizon_ms FROM client_session_clock WHERE group_id = ?',
      )
      .get(this.groupId);
    return r === undefined ? { clockMs: 0, horizonMs: 0 } : { clockMs: r.clock_ms, horizonMs: r.horizon_ms };
  }

  private setClock(c: SessionClock): void {
    this.store
      .prepare(
        `INSERT INTO client_session_clock (group_id, clock_ms, horizon_ms, session_count) VALUES (?, ?, ?, 0)
         ON CONFLICT (group_id) DO UPDATE SET clock_ms = excluded.clock_ms, horizon_ms = excluded.horizon_ms`,
      )
      .run(this.groupId, c.clockMs, c.horizonMs);
  }

  /** How many sessions the group holds (kept beside the clock: a COUNT per apply would cost O(sessions)). */
  private sessionCount(): number {
    return (
      this.store
        .prepare<[number], { n: number }>('SELECT session_count AS n FROM client_session_clock WHERE group_id = ?')
        .get(this.groupId)?.n ?? 0
    );
  }

  private addSessions(delta: number): void {
    this.store
      .prepare('UPDATE client_session_clock SET session_count = session_count + ? WHERE group_id = ?')
      .run(delta, this.groupId);
  }

  /**
   * Applies a row write under its client session: `run` applies the command in its savepoint and returns its answer
   * (a refusal included). Returns the answer to give the client: the remembered one (`replayed`), a session refusal,
   * or run's — remembered before it is returned.
   */
  apply(client: ClientStamp, atMs: number, run: () => DataResponse): DataResponse {
    const before = this.clock();
    let clock: SessionClock = { clockMs: Math.max(before.clockMs, atMs), horizonMs: before.horizonMs };
    this.setClock(clock); // the row exists from here on (the session count lives in it)
    clock = this.sweep(clock);
    const gate = this.admit(client, clock);
    this.setClock(gate.clock);
    if ('refusal' in gate) return gate.refusal;
    const remembered = this.store
      .prepare<[number, string, string, number], { answer_json: string }>(
        'SELECT answer_json FROM client_answers WHERE group_id = ? AND user_id = ? AND client_id = ? AND seq = ?',
      )
      .get(this.groupId, client.userId, client.clientId, client.seq);
    if (remembered !== undefined) {
      const answer = JSON.parse(remembered.answer_json) as DataResponse;
      return answer.type === 'RowsAffected' ? { ...answer, replayed: true } : answer;
    }
    const held = this.store
      .prepare<[number, string, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM client_answers WHERE group_id = ? AND user_id = ? AND client_id = ?',
      )
      .get(this.groupId, client.userId, client.clientId);
    const max = CLIENT_SESSION_LIMITS.answersPerSessionMax;
    if ((held?.n ?? 0) >= max) {
      return refusal(
        'SESSION_WINDOW_FULL',
        `client ${client.clientId} has ${max} unacknowledged writes in this group (the limit); acknowledge some first`,
      );
    }
    const answer = run();
    this.store
      .prepare('INSERT INTO client_answers (group_id, user_id, client_id, seq, answer_json) VALUES (?, ?, ?, ?, ?)')
      .run(this.groupId, client.userId, client.clientId, client.seq, JSON.stringify(answer));
    return answer;
  }

  /**
   * Finds the client's session (or starts it), moves its acked watermark and last use, and forgets the answers the
   * client acknowledged; or refuses: EXPIRED (dropped, too old, or an older incarnation of the id than the one held),
   * STALE (seq at or below the watermark: its answer was delivered and forgotten).
   */
  private admit(
    client: ClientStamp,
    clock: SessionClock,
  ): { clock: SessionClock } | { clock: SessionClock; refusal: ErrorResponse } {
    const ttlMs = CLIENT_SESSION_LIMITS.ttlMs;
    let row = this.session(client);
    if (row !== undefined && (row.last_ms < clock.clockMs - ttlMs || row.created_ms < client.createdMs)) {
      // Idle past the TTL (the sweep had not reached it yet), or the client id made again since: forgotten now, so
      // the horizon covers it — a retry of the old incarnation is refused below, a newer one starts afresh.
      clock = this.drop(client.userId, client.clientId, row, clock);
      row = undefined;
    }
    if (row === undefined) {
      if (client.createdMs <= clock.horizonMs) {
        const why = `client ${client.clientId}'s session is no longer remembered here (expired or evicted)`;
        return { clock, refusal: refusal('SESSION_EXPIRED', `${why}: whether this write applied is unknown`) };
      }
      if (client.createdMs < clock.clockMs - ttlMs) {
        return {
          clock,
          refusal: refusal('SESSION_EXPIRED', `client ${client.clientId} was made more than the TTL ago`),
        };
      }
      clock = this.makeRoom(clock);
      this.store
        .prepare(
          'INSERT INTO client_sessions (group_id, user_id, client_id, created_ms, last_ms, acked) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(this.groupId, client.userId, client.clientId, client.createdMs, clock.clockMs, client.acked);
      this.addSessions(1);
      return { clock };
    }
    if (row.created_ms > client.createdMs) {
      const why = `client ${client.clientId} was made again since this write's session began`;
      return { clock, refusal: refusal('SESSION_EXPIRED', `${why}: whether this write applied is unknown`) };
    }
    const acked = Math.max(row.acked, client.acked);
    this.store
      .prepare('UPDATE client_sessions SET last_ms = ?, acked = ? WHERE group_id = ? AND user_id = ? AND client_id = ?')
      .run(Math.max(row.last_ms, clock.clockMs), acked, this.groupId, client.userId, client.clientId);
    this.store
      .prepare('DELETE FROM client_answers WHERE group_id = ? AND user_id = ? AND client_id = ? AND seq <= ?')
      .run(this.groupId, client.userId, client.clientId, acked);
    if (client.seq <= acked) {
      const why = `seq ${client.seq} of client ${client.clientId} is at or below its acknowledged ${acked}`;
      return { clock, refusal: refusal('SESSION_STALE', `${why}: its answer was delivered and forgotten`) };
    }
    return { clock };
  }

  private session(client: { userId: string; clientId: string }): SessionRow | undefined {
    return this.store
      .prepare<[number, string, string], SessionRow>(
        'SELECT created_ms, last_ms, acked FROM client_sessions WHERE group_id = ? AND user_id = ? AND client_id = ?',
      )
      .get(this.groupId, client.userId, client.clientId);
  }

  /** Forgets one session and its answers; the horizon rises to its creation time. */
  private drop(userId: string, clientId: string, row: SessionRow, clock: SessionClock): SessionClock {
    this.store
      .prepare('DELETE FROM client_sessions WHERE group_id = ? AND user_id = ? AND client_id = ?')
      .run(this.groupId, userId, clientId);
    this.store
      .prepare('DELETE FROM client_answers WHERE group_id = ? AND user_id = ? AND client_id = ?')
      .run(this.groupId, userId, clientId);
    this.addSessions(-1);
    return { clockMs: clock.clockMs, horizonMs: Math.max(clock.horizonMs, row.created_ms) };
  }

  /** The longest idle sessions, oldest first (the index's order: ties broken by user and client id). */
  private idlest(limit: number, idleBeforeMs: number): (SessionRow & { user_id: string; client_id: string })[] {
    return this.store
      .prepare<[number, number, number], SessionRow & { user_id: string; client_id: string }>(
        'SELECT user_id, client_id, created_ms, last_ms, acked FROM client_sessions WHERE group_id = ? AND last_ms < ? ORDER BY last_ms, user_id, client_id LIMIT ?',
      )
      .all(this.groupId, idleBeforeMs, limit);
  }

  /** Drops at most expiredPerApplyMax sessions idle past the TTL. */
  private sweep(clock: SessionClock): SessionClock {
    const expired = this.idlest(CLIENT_SESSION_LIMITS.expiredPerApplyMax, clock.clockMs - CLIENT_SESSION_LIMITS.ttlMs);
    for (const r of expired) clock = this.drop(r.user_id, r.client_id, r, clock);
    return clock;
  }

  /** A new session is about to be made: at the bound, the longest idle one is evicted. */
  private makeRoom(clock: SessionClock): SessionClock {
    if (this.sessionCount() < CLIENT_SESSION_LIMITS.sessionsPerGroupMax) return clock;
    const [victim] = this.idlest(1, Number.MAX_SAFE_INTEGER);
    return victim === undefined ? clock : this.drop(victim.user_id, victim.client_id, victim, clock);
  }

  /** How many sessions and remembered answers the group holds (tests, metrics). */
  counts(): { sessions: number; answers: number } {
    const one = (sql: string): number => this.store.prepare<[number], { n: number }>(sql).get(this.groupId)?.n ?? 0;
    return {
      sessions: one('SELECT COUNT(*) AS n FROM client_sessions WHERE group_id = ?'),
      answers: one('SELECT COUNT(*) AS n FROM client_answers WHERE group_id = ?'),
    };
  }

  /** Clears the group's sessions and sets its clock (the first piece of a snapshot install). */
  reset(clock: SessionClock): void {
    this.store.prepare('DELETE FROM client_sessions WHERE group_id = ?').run(this.groupId);
    this.store.prepare('DELETE FROM client_answers WHERE group_id = ?').run(this.groupId);
    this.store.prepare('DELETE FROM client_session_clock WHERE group_id = ?').run(this.groupId);
    this.setClock(clock);
  }

  /** One page of a snapshot's `client-sessions` records: table 0 sessions, table 1 answers (SESSION_SNAPSHOT_QUERIES). */
  importPage(table: number, rows: readonly Record<string, unknown>[]): void {
    const sql =
      table === 0
        ? 'INSERT INTO client_sessions (group_id, user_id, client_id, created_ms, last_ms, acked) VALUES (?, ?, ?, ?, ?, ?)'
        : 'INSERT INTO client_answers (group_id, user_id, client_id, seq, answer_json) VALUES (?, ?, ?, ?, ?)';
    const cols =
      table === 0
        ? ['user_id', 'client_id', 'created_ms', 'last_ms', 'acked']
        : ['user_id', 'client_id', 'seq', 'answer_json'];
    const stmt = this.store.prepare(sql);
    for (const r of rows) {
      const values = cols.map((c) => r[c]);
      if (!values.every((v) => typeof v === 'string' || typeof v === 'number')) {
        throw new SnapshotFormatError(`snapshot of group ${this.groupId}: a client-session record lacks a field`);
      }
      stmt.run(this.groupId, ...values);
    }
    if (table === 0) this.addSessions(rows.length);
  }
}
