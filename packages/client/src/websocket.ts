/**
 * The WebSocket the live queries use: the constructor the application passed in ClientOptions.WebSocket, else the
 * platform's (browsers, Deno, Node ≥ 22), else the `ws` package, imported only then (Node 20). The import's specifier is a
 * variable on purpose: a bundler for the browser (esbuild --platform=browser) leaves it alone, so the browser build
 * carries no Node code.
 */
import { KalamError } from './errors.js';

/** The part of the WHATWG WebSocket the client uses; `ws`'s WebSocket has it too. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** WebSocket.CONNECTING and OPEN in every implementation. */
export const WS_CONNECTING = 0;
export const WS_OPEN = 1;

const NODE_WS_PACKAGE = 'ws';

export async function resolveWebSocket(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  // One the application passed wins: it was passed for a reason (a `ws` with a private CA, a test's fake).
  if (given !== undefined) return given;
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (platform !== undefined) return platform;
  try {
    const mod = (await import(NODE_WS_PACKAGE)) as { default?: WebSocketConstructor; WebSocket?: WebSocketConstructor };
    const found = mod.default ?? mod.WebSocket;
    if (found !== undefined) return found;
  } catch (err) {
    throw new KalamError('NO_WEBSOCKET', 'no WebSocket here: pass ClientOptions.WebSocket or install `ws`', {
      cause: err,
    });
  }
  throw new KalamError('NO_WEBSOCKET', 'the `ws` package exports no WebSocket: pass ClientOptions.WebSocket');
}

/** Drops a socket at once: `ws`'s terminate() when there is one (a dead peer never answers a close handshake). */
export function dropSocket(ws: WebSocketLike): void {
  const terminate = (ws as { terminate?: () => void }).terminate;
  if (typeof terminate === 'function') terminate.call(ws);
  else ws.close(4000, 'the client gave up on this connection');
}

/** A text frame's data as a string (browsers give a string; `ws` too, for text frames through onmessage). */
export function textOf(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return String(data);
}
