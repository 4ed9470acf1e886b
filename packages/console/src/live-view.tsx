/**
 * The live-query viewer: a browser WebSocket on /v1/ws of the serving node (ws/protocol.ts). It authenticates with
 * the session's token, subscribes, pulls every initial batch (next_batch while has_more), then keeps the rows up to
 * date from `change` messages (keyed by `_seq`, as the server sends each row's) and lists the last changes.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

import type { ColumnInfo, Value } from './api.js';
import { ResultTable } from './results.js';

type LiveRow = Record<string, Value>;

interface ServerMessage {
  readonly type: string;
  readonly subscription_id?: string | null;
  readonly schema?: readonly ColumnInfo[];
  readonly rows?: readonly LiveRow[];
  readonly old_values?: readonly LiveRow[];
  readonly change_type?: 'insert' | 'update' | 'delete';
  readonly batch_control?: { readonly has_more: boolean; readonly last_seq_id: number | null };
  readonly code?: string;
  readonly message?: string;
}

/** The viewer keeps at most this many rows and changes: a busy table must not grow the page without end. */
const ROWS_MAX = 500;
const CHANGES_MAX = 50;
const SUBSCRIPTION_ID = 'console';

interface LiveState {
  readonly status: string;
  readonly schema: readonly ColumnInfo[];
  readonly rows: readonly LiveRow[];
  readonly changes: readonly { readonly at: string; readonly kind: string; readonly row: LiveRow }[];
  readonly error: string | null;
}

const IDLE: LiveState = { status: 'not subscribed', schema: [], rows: [], changes: [], error: null };

/** Rows are told apart by their primary key when the schema has `id`, else by `_seq`. */
function keyOf(row: LiveRow): string {
  return JSON.stringify(row['id'] ?? row['_seq'] ?? row);
}

function applyChange(rows: readonly LiveRow[], m: ServerMessage): LiveRow[] {
  const changed = m.rows ?? [];
  const olds = m.old_values ?? changed;
  let next = [...rows];
  if (m.change_type === 'insert') next.push(...changed);
  else if (m.change_type === 'update') {
    const byOld = new Map(olds.map((o, i) => [keyOf(o), changed[i]]));
    next = next.map((r) => byOld.get(keyOf(r)) ?? r);
  } else if (m.change_type === 'delete') {
    const gone = new Set(changed.map(keyOf));
    next = next.filter((r) => !gone.has(keyOf(r)));
  }
  return next.slice(-ROWS_MAX);
}

function columnsOf(schema: readonly ColumnInfo[], rows: readonly LiveRow[]): readonly ColumnInfo[] {
  if (schema.length > 0) return schema;
  const first = rows[0];
  return first === undefined ? [] : Object.keys(first).map((name) => ({ name, data_type: '' }));
}

export function LiveView({ token }: { token: string }) {
  const [sql, setSql] = useState('');
  const [state, setState] = useState<LiveState>(IDLE);
  const socket = useRef<WebSocket | null>(null);
  useEffect(() => () => socket.current?.close(), []);

  const stop = (): void => {
    socket.current?.close();
    socket.current = null;
    setState((s) => ({ ...s, status: 'not subscribed' }));
  };
  const start = (): void => {
    socket.current?.close();
    setState({ ...IDLE, status: 'connecting' });
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`);
    socket.current = ws;
    const send = (m: unknown): void => ws.send(JSON.stringify(m));
    ws.onopen = () => send({ type: 'authenticate', method: 'jwt', token });
    ws.onclose = () => {
      if (socket.current === ws) setState((s) => ({ ...s, status: 'closed' }));
    };
    ws.onmessage = (ev: MessageEvent<string>) => {
      const m = JSON.parse(ev.data) as ServerMessage;
      switch (m.type) {
        case 'auth_success':
          send({ type: 'subscribe', subscription: { id: SUBSCRIPTION_ID, sql, options: {} } });
          return setState((s) => ({ ...s, status: 'subscribing' }));
        case 'auth_error':
          return setState((s) => ({ ...s, status: 'closed', error: `auth_error: ${m.message ?? ''}` }));
        case 'subscription_ack':
          return setState((s) => ({ ...s, status: 'loading', schema: m.schema ?? [] }));
        case 'initial_data_batch': {
          const c = m.batch_control;
          if (c?.has_more === true)
            send({ type: 'next_batch', subscription_id: SUBSCRIPTION_ID, last_seq_id: c.last_seq_id });
          return setState((s) => ({
            ...s,
            status: c?.has_more === true ? 'loading' : 'live',
            rows: [...s.rows, ...(m.rows ?? [])].slice(-ROWS_MAX),
          }));
        }
        case 'change': {
          const at = new Date().toLocaleTimeString();
          const kind = m.change_type ?? '?';
          return setState((s) => ({
            ...s,
            rows: applyChange(s.rows, m),
            changes: [...(m.rows ?? []).map((row) => ({ at, kind, row })), ...s.changes].slice(0, CHANGES_MAX),
          }));
        }
        case 'error':
          return setState((s) => ({ ...s, error: `${m.code ?? 'ERROR'}: ${m.message ?? ''}` }));
        default:
          return undefined;
      }
    };
  };
  const columns = columnsOf(state.schema, state.rows);
  return (
    <section class="live">
      <textarea
        name="live-sql"
        spellcheck={false}
        placeholder="SELECT * FROM app.messages"
        value={sql}
        onInput={(e) => setSql(e.currentTarget.value)}
      />
      <div class="bar">
        <button class="primary" data-action="subscribe" disabled={sql.trim() === ''} onClick={start}>
          Subscribe
        </button>
        <button onClick={stop} disabled={socket.current === null}>
          Unsubscribe
        </button>
        <span class="muted small" data-live-status={state.status}>
          {state.status} · {state.rows.length} row(s)
        </span>
      </div>
      {state.error !== null && (
        <p class="error" role="alert">
          {state.error}
        </p>
      )}
      <ResultTable schema={columns} rows={state.rows.map((r) => columns.map((c) => r[c.name] ?? null))} />
      <h2>Changes</h2>
      <ul class="changes mono small">
        {state.changes.map((c, i) => (
          <li key={i}>
            {c.at} {c.kind} {JSON.stringify(c.row)}
          </li>
        ))}
      </ul>
    </section>
  );
}
