/**
 * The messages of `/v1/ws` (reference/kalamdb-facts.md), as types, and the parser of client messages. The parser does
 * no I/O: it turns text into a typed message or a ProtocolError with the code the server answers with.
 */
import type { ColumnInfo, LiveRow } from '@kalam/kalamdb';

import { WS_LIMITS } from './limits.js';

export interface SubscribeOptions {
  readonly batch_size?: number;
  readonly last_rows?: number;
  readonly from_seq_id?: number;
}

export type ClientMessage =
  | { readonly type: 'authenticate'; readonly method: 'basic'; readonly username: string; readonly password: string }
  | { readonly type: 'authenticate'; readonly method: 'jwt'; readonly token: string }
  | {
      readonly type: 'subscribe';
      readonly subscription: { readonly id: string; readonly sql: string; readonly options: SubscribeOptions };
    }
  | { readonly type: 'next_batch'; readonly subscription_id: string; readonly last_seq_id?: number }
  | { readonly type: 'unsubscribe'; readonly subscription_id: string }
  | { readonly type: 'ping' };

export type BatchStatus = 'loading' | 'loading_batch' | 'ready';

export interface BatchControl {
  readonly batch_num: number;
  readonly has_more: boolean;
  readonly status: BatchStatus;
  /** The `_seq` to resume after: the last row's while loading; the snapshot point when ready. */
  readonly last_seq_id: number | null;
  /** The group's `_seq` high-water mark the initial rows were read at. */
  readonly snapshot_end_seq: number | null;
}

export type ServerMessage =
  | { readonly type: 'auth_success'; readonly user_id: string; readonly role: string }
  | { readonly type: 'auth_error'; readonly message: string }
  | {
      readonly type: 'subscription_ack';
      readonly subscription_id: string;
      /** The live id (`system.live_queries.live_id`, for KILL LIVE QUERY). */
      readonly live_id: string;
      readonly total_rows: number;
      readonly batch_control: BatchControl;
      readonly schema: readonly ColumnInfo[];
    }
  | {
      readonly type: 'initial_data_batch';
      readonly subscription_id: string;
      readonly rows: readonly LiveRow[];
      readonly batch_control: BatchControl;
    }
  | {
      readonly type: 'change';
      readonly subscription_id: string;
      readonly change_type: 'insert' | 'update' | 'delete';
      readonly rows: readonly LiveRow[];
      readonly old_values?: readonly LiveRow[];
    }
  | { readonly type: 'unsubscribed'; readonly subscription_id: string }
  | { readonly type: 'error'; readonly subscription_id: string | null; readonly code: string; readonly message: string }
  | { readonly type: 'pong' };

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: string,
    message: string,
    readonly subscriptionId: string | null = null,
  ) {
    super(message);
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ProtocolError('INVALID_MESSAGE', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new ProtocolError('INVALID_MESSAGE', `${what}.${key} must be a string`);
  return v;
}

function count(o: Record<string, unknown>, key: string, min: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new ProtocolError('INVALID_MESSAGE', `options.${key} must be an integer ≥ ${min}`);
  }
  return v;
}

function subscriptionId(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > WS_LIMITS.subscriptionIdCharsMax) {
    throw new ProtocolError(
      'INVALID_SUBSCRIPTION_ID',
      `a subscription id is a string of 1 to ${WS_LIMITS.subscriptionIdCharsMax} characters`,
    );
  }
  return v;
}

/** Parses one client text frame; throws ProtocolError. */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('INVALID_MESSAGE', 'a message must be JSON');
  }
  const m = obj(value, 'a message');
  switch (m['type']) {
    case 'authenticate': {
      if (m['method'] === 'basic') {
        return {
          type: 'authenticate',
          method: 'basic',
          username: str(m, 'username', 'authenticate'),
          password: str(m, 'password', 'authenticate'),
        };
      }
      if (m['method'] === 'jwt') return { type: 'authenticate', method: 'jwt', token: str(m, 'token', 'authenticate') };
      throw new ProtocolError('INVALID_MESSAGE', 'authenticate.method must be "basic" or "jwt"');
    }
    case 'subscribe': {
      const s = obj(m['subscription'], 'subscribe.subscription');
      const id = subscriptionId(s['id']);
      const sql = str(s, 'sql', 'subscription');
      const o = s['options'] === undefined || s['options'] === null ? {} : obj(s['options'], 'subscription.options');
      const options: { batch_size?: number; last_rows?: number; from_seq_id?: number } = {};
      const batch = count(o, 'batch_size', 1);
      const last = count(o, 'last_rows', 0);
      const from = count(o, 'from_seq_id', 0);
      if (batch !== undefined) options.batch_size = Math.min(batch, WS_LIMITS.batchSizeMax);
      if (last !== undefined) options.last_rows = last;
      if (from !== undefined) options.from_seq_id = from;
      return { type: 'subscribe', subscription: { id, sql, options } };
    }
    case 'next_batch': {
      const last = m['last_seq_id'];
      const id = subscriptionId(m['subscription_id']);
      return typeof last === 'number'
        ? { type: 'next_batch', subscription_id: id, last_seq_id: last }
        : { type: 'next_batch', subscription_id: id };
    }
    case 'unsubscribe':
      return { type: 'unsubscribe', subscription_id: subscriptionId(m['subscription_id']) };
    case 'ping':
      return { type: 'ping' };
    default:
      throw new ProtocolError('INVALID_MESSAGE', `unknown message type ${JSON.stringify(m['type'])}`);
  }
}
