// What this proves (issue 14 §1): @kalam/client builds for the browser and runs without Node. esbuild bundles the
// built entry with --platform=browser (as the console and the example app do); the bundle imports no Node module and
// does not carry `ws`; evaluated in a bare V8 context that has only web globals (fetch, WebSocket, URL, timers, Web
// Crypto — no process, require or Buffer), it signs in, runs a query and a live query against fakes of the server.
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';

import { build } from 'esbuild';

const ENTRY = fileURLToPath(new URL('../src/index.js', import.meta.url));

test('the browser bundle has no Node code and works with only web globals', async () => {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'Kalam',
    write: false,
    logLevel: 'silent',
  });
  assert.deepEqual(out.errors, []);
  const code = out.outputFiles[0]!.text;
  assert.ok(!/from ["']node:|require\(["']/.test(code), 'no Node import or require');
  assert.ok(
    !/class WebSocketServer|permessage-deflate|ws does not work in the browser/.test(code),
    'ws is not bundled',
  );

  const requests: { url: string; auth: string | null; body: unknown }[] = [];
  const fakeFetch = (url: string, init: RequestInit): Promise<Response> => {
    const auth = new Headers(init.headers).get('authorization');
    requests.push({ url, auth, body: JSON.parse(init.body as string) as unknown });
    const body = url.endsWith('/v1/api/auth/login')
      ? { access_token: 'tok', token_type: 'Bearer', expires_in: 3600 }
      : { status: 'success', results: [{ schema: [{ name: 'id', data_type: 'BIGINT' }], rows: [[7]], row_count: 1 }] };
    return Promise.resolve(new Response(JSON.stringify(body), { status: 200 }));
  };
  const sentOnSocket: unknown[] = [];
  /** A WebSocket that plays the server's side of /v1/ws for one subscription. */
  class FakeSocket {
    readyState = 0;
    onopen: ((e: unknown) => void) | null = null;
    onmessage: ((e: { data: unknown }) => void) | null = null;
    onclose: ((e: { code: number; reason: string }) => void) | null = null;
    onerror: ((e: unknown) => void) | null = null;
    constructor(readonly url: string) {
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
      }, 1);
    }
    send(text: string): void {
      const m = JSON.parse(text) as { type: string; subscription?: { id: string } };
      sentOnSocket.push(m);
      const reply = (o: unknown): void => void setTimeout(() => this.onmessage?.({ data: JSON.stringify(o) }), 1);
      if (m.type === 'authenticate') reply({ type: 'auth_success', user_id: 'u', role: 'user' });
      if (m.type === 'subscribe') {
        const id = m.subscription!.id;
        const control = { batch_num: 0, has_more: false, status: 'ready', last_seq_id: 10, snapshot_end_seq: 10 };
        reply({
          type: 'subscription_ack',
          subscription_id: id,
          live_id: 'l',
          total_rows: 1,
          batch_control: control,
          schema: [],
        });
        reply({ type: 'initial_data_batch', subscription_id: id, rows: [{ id: 1, _seq: 10 }], batch_control: control });
        reply({ type: 'change', subscription_id: id, change_type: 'insert', rows: [{ id: 2, _seq: 11 }] });
      }
    }
    close(): void {
      this.readyState = 3;
    }
  }
  const context = createContext({
    fetch: fakeFetch,
    WebSocket: FakeSocket,
    Headers,
    Response,
    URL,
    AbortController,
    AbortSignal,
    TextDecoder,
    TextEncoder,
    crypto: webcrypto,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    console,
  });
  runInContext(code, context);
  const script = `(async () => {
    const db = Kalam.createClient({ nodes: ['https://db.example'], user: 'alice', password: 'pw' });
    const r = await db.query('SELECT id FROM app.t');
    const events = [];
    const iterable = db.live('SELECT * FROM app.t');
    for await (const e of iterable) {
      events.push(e);
      if (events.length === 2) break;
    }
    await db.close();
    return JSON.stringify({ rows: r.rows, events, noNode: typeof process === 'undefined' && typeof require === 'undefined' });
  })()`;
  // Through JSON: the context's arrays and objects are of another realm (deepEqual compares prototypes).
  const result = JSON.parse((await runInContext(script, context)) as string) as {
    rows: unknown;
    events: { type: string; rows?: unknown; row?: unknown; seq: number }[];
    noNode: boolean;
  };
  assert.equal(result.noNode, true);
  assert.deepEqual(result.rows, [{ id: 7 }]);
  assert.deepEqual(
    result.events.map((e) => [e.type, e.seq]),
    [
      ['initial', 10],
      ['change', 11],
    ],
  );
  assert.deepEqual(
    requests.map((r) => [new URL(r.url).pathname, r.auth]),
    [
      ['/v1/api/auth/login', null],
      ['/v1/api/sql', 'Bearer tok'],
    ],
  );
  assert.deepEqual(sentOnSocket[0], { type: 'authenticate', method: 'jwt', token: 'tok' });
});
