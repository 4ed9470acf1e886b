// What this proves (issue 14 §1), without a server: the live-query rules, against a scripted fake WebSocket that
// plays one node per connection. When a socket closes, the subscription resubscribes on another node with
// from_seq_id = the last `_seq` it delivered and drops what it already delivered (nothing twice, none skipped);
// RESUME_UNAVAILABLE ends it with ResumeUnavailableError (onError, and the iterator throws it); a socket that stops
// answering pings is given up and the subscription resumes elsewhere; a transient refusal (no leader yet) is retried
// on another node; a statement refusal rejects subscribe().
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ResumeUnavailableError, SqlError, createClient } from '../src/index.js';
import type { LiveChange, LiveEvent, WebSocketConstructor } from '../src/index.js';

type Msg = { type: string; subscription?: { id: string; sql: string; options: Record<string, unknown> } };

/** How the fake node answers `subscribe` on connection `index` (0-based) to `url`. */
type Script = (sock: FakeSocket, m: Msg, index: number) => void;

class FakeSocket {
  static script: Script = () => undefined;
  static opened: FakeSocket[] = [];
  readyState = 0;
  readonly sent: Msg[] = [];
  readonly index: number;
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  /** How long authentication takes on the fake node. */
  static authDelayMs = 0;
  private authed = false;
  /** Answers pings (a node that froze does not). */
  answersPings = true;

  constructor(readonly url: string) {
    this.index = FakeSocket.opened.length;
    FakeSocket.opened.push(this);
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    }, 1);
  }

  send(text: string): void {
    const m = JSON.parse(text) as Msg;
    this.sent.push(m);
    // As the server: anything before authentication succeeded is refused.
    if (m.type !== 'authenticate' && !this.authed) {
      this.reply({ type: 'error', subscription_id: null, code: 'UNAUTHORIZED', message: 'authenticate first' });
    } else if (m.type === 'authenticate') {
      setTimeout(() => {
        this.authed = true;
        this.reply({ type: 'auth_success', user_id: 'u', role: 'user' });
      }, FakeSocket.authDelayMs);
    } else if (m.type === 'ping' && this.answersPings) this.reply({ type: 'pong' });
    else if (m.type === 'subscribe') FakeSocket.script(this, m, this.index);
  }

  reply(o: unknown): void {
    setTimeout(() => {
      if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(o) });
    }, 1);
  }

  /** The node died: the socket closes abnormally. */
  die(): void {
    setTimeout(() => {
      this.readyState = 3;
      this.onclose?.({ code: 1006, reason: '' });
    }, 2);
  }

  close(): void {
    this.readyState = 3;
  }

  get subscribeOptions(): Record<string, unknown> | undefined {
    return this.sent.find((m) => m.type === 'subscribe')?.subscription?.options;
  }
}

const ready = (seq: number) => ({
  batch_num: 0,
  has_more: false,
  status: 'ready',
  last_seq_id: seq,
  snapshot_end_seq: seq,
});

/** The server's answer to a subscribe: ack, one initial batch (rows at `seq`), then `changes` inserts. */
function serve(sock: FakeSocket, m: Msg, initial: { id: number; _seq: number }[], seq: number, changes: number[]) {
  const id = m.subscription!.id;
  sock.reply({
    type: 'subscription_ack',
    subscription_id: id,
    live_id: 'l',
    total_rows: 0,
    batch_control: ready(seq),
    schema: [],
  });
  sock.reply({ type: 'initial_data_batch', subscription_id: id, rows: initial, batch_control: ready(seq) });
  for (const s of changes) {
    sock.reply({ type: 'change', subscription_id: id, change_type: 'insert', rows: [{ id: s, _seq: s }] });
  }
}

const NODES = ['http://n1:1', 'http://n2:2', 'http://n3:3'];
const LIVE = { pingIntervalMs: 20, pingTimeoutMs: 150, resumeDeadlineMs: 3_000 };

function client() {
  FakeSocket.opened = [];
  return createClient(
    { nodes: NODES, token: 't' },
    { WebSocket: FakeSocket as unknown as WebSocketConstructor, backoffBaseMs: 1, backoffMaxMs: 5, live: LIVE },
  );
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 5 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a socket that closes: resumed on another node from the last _seq delivered, nothing twice, none skipped', async () => {
  FakeSocket.script = (sock, m, i) => {
    if (i === 0) {
      serve(sock, m, [{ id: 1, _seq: 10 }], 10, [11, 12]);
      setTimeout(() => sock.die(), 30);
    } else {
      // The next node sends from the cursor on, and (harmlessly) one the client already has.
      serve(sock, m, [], Number(m.subscription!.options['from_seq_id']), [12, 13, 14]);
    }
  };
  const db = client();
  const changes: LiveChange<{ id: number }>[] = [];
  const resumes: { node: string; fromSeq: number }[] = [];
  let initialRows: unknown[] = [];
  const sub = await db.subscribe<{ id: number }>('SELECT * FROM app.t', {
    onInitial: (e) => (initialRows = e.rows),
    onChange: (e) => changes.push(e),
    onResume: (r) => resumes.push(r),
  });
  await until(() => sub.lastSeq >= 14, 'the stream reaches 14');
  assert.deepEqual(initialRows, [{ id: 1, _seq: 10 }]);
  assert.deepEqual(
    changes.map((c) => c.seq),
    [11, 12, 13, 14],
  );
  const [first, second] = FakeSocket.opened;
  assert.equal(first!.subscribeOptions?.['from_seq_id'], undefined, 'the first subscribe loads the initial rows');
  assert.equal(second!.subscribeOptions?.['from_seq_id'], 12, 'the resume starts after the last _seq delivered');
  const idOf = (sock: FakeSocket) => sock.sent.find((m) => m.type === 'subscribe')?.subscription?.id;
  assert.equal(idOf(first!), idOf(second!), 'the same subscription id');
  assert.notEqual(second!.url, first!.url, 'another node');
  assert.deepEqual(resumes, [{ node: second!.url.replace(/^ws/, 'http').replace(/\/v1\/ws$/, ''), fromSeq: 12 }]);
  assert.equal(db.nodes().nodes.find((n) => first!.url.startsWith(n.url.replace(/^http/, 'ws')))?.up, false);
  await db.close();
  assert.equal(sub.active, false);
});

test('RESUME_UNAVAILABLE ends the subscription with ResumeUnavailableError; the iterator throws it', async () => {
  FakeSocket.script = (sock, m, i) => {
    if (i % 2 === 0) {
      serve(sock, m, [], 5, [6]);
      setTimeout(() => sock.die(), 30);
    } else {
      sock.reply({
        type: 'error',
        subscription_id: m.subscription!.id,
        code: 'RESUME_UNAVAILABLE',
        message: 'trimmed',
      });
    }
  };
  const db = client();
  const errors: unknown[] = [];
  const sub = await db.subscribe('SELECT * FROM app.t', { onError: (e) => errors.push(e) });
  const ended = await sub.ended;
  assert.ok(ended instanceof ResumeUnavailableError && ended.code === 'RESUME_UNAVAILABLE', String(ended));
  assert.deepEqual(errors, [ended]);
  assert.equal(sub.active, false);

  const seen: LiveEvent<unknown>[] = [];
  await assert.rejects(
    (async () => {
      for await (const e of db.live('SELECT * FROM app.t')) seen.push(e);
    })(),
    ResumeUnavailableError,
  );
  assert.deepEqual(
    seen.map((e) => e.type),
    ['initial', 'change'],
    'what came before the error was delivered',
  );
  await db.close();
});

test('a node that stops answering pings is given up; the subscription resumes elsewhere', async () => {
  FakeSocket.script = (sock, m, i) => {
    if (i === 0) {
      serve(sock, m, [], 3, [4]);
      sock.answersPings = false; // frozen: the socket stays open, nothing comes back
    } else serve(sock, m, [], Number(m.subscription!.options['from_seq_id']), [5]);
  };
  const db = client();
  const sub = await db.subscribe('SELECT * FROM app.t', {});
  await until(() => sub.lastSeq === 5, 'resumed after the ping timeout');
  assert.equal(FakeSocket.opened.length, 2);
  assert.equal(FakeSocket.opened[1]!.subscribeOptions?.['from_seq_id'], 4);
  await db.close();
});

test('no leader yet: the subscribe is retried on another node; a statement refusal rejects subscribe()', async () => {
  FakeSocket.script = (sock, m, i) => {
    if (i === 0) {
      sock.reply({
        type: 'error',
        subscription_id: m.subscription!.id,
        code: 'LEADER_NOT_AVAILABLE',
        message: 'electing',
      });
    } else serve(sock, m, [{ id: 1, _seq: 2 }], 2, []);
  };
  const db = client();
  const sub = await db.subscribe('SELECT * FROM app.t', {});
  assert.equal(sub.lastSeq, 2);
  assert.equal(FakeSocket.opened.length, 2);
  assert.notEqual(FakeSocket.opened[0]!.url, FakeSocket.opened[1]!.url);
  await db.close();

  FakeSocket.script = (sock, m) =>
    sock.reply({ type: 'error', subscription_id: m.subscription!.id, code: 'TABLE_NOT_FOUND', message: 'no table' });
  const db2 = client();
  await assert.rejects(db2.subscribe('SELECT * FROM app.nope', {}), SqlError);
  assert.equal(FakeSocket.opened.length, 1, 'not retried');
  await db2.close();
});

test('pings wait for authentication: a slow sign-in on the node does not end the subscription', async () => {
  FakeSocket.authDelayMs = 5 * LIVE.pingIntervalMs;
  FakeSocket.script = (sock, m) => serve(sock, m, [], 1, []);
  try {
    const db = client();
    const sub = await db.subscribe('SELECT * FROM app.t', {});
    assert.equal(sub.active, true);
    assert.equal(FakeSocket.opened.length, 1);
    assert.equal(FakeSocket.opened[0]!.sent[0]!.type, 'authenticate', 'nothing before authenticate');
    await db.close();
  } finally {
    FakeSocket.authDelayMs = 0;
  }
});
