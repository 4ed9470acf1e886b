// The load both sides get: closed-loop clients, each with its own keep-alive HTTP/1.1 connection (node:http, one
// socket per client, so neither side shares a pool), a warm-up on those connections, then the measured window.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** No request of the benchmark waits longer than this; a timed-out request counts as an error. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** A client whose request failed pauses this long, so that a refusing server is not hammered in a tight loop. */
const ERROR_PAUSE_MS = 5;
/** A bound on requests per client and window beside the time bound (about 100 times what a client can do). */
const REQUESTS_PER_CLIENT_MAX = 1_000_000;

/** One client's connection to one server: a keep-alive agent that holds at most one socket. */
export class Connection {
  constructor(baseUrl) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  }

  /** POST `body` (a JSON text); resolves with the HTTP status and the reply's text, rejects on a network error. */
  post(path, body, { headers = {}, timeoutMs = REQUEST_TIMEOUT_MS, signal } = {}) {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
          ...(signal === undefined ? {} : { signal }),
        },
        (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close() {
    this.agent.destroy();
  }
}

/**
 * Runs `clients` closed-loop clients for `warmupMs` and then `durationMs`: client c calls `step(c)` (one request;
 * resolves with the rows or keys it moved, throws on an error) again as soon as the last call ended. Only the
 * requests that started and ended inside the measured window count. Stops early when `signal` aborts.
 * `cpuMs`, when given, reads the CPU time of the servers under load: read when the measured window starts and when
 * it ends, its difference is the window's `cpuMs` (null when not given or unreadable).
 */
export async function runWindow({ clients, warmupMs, durationMs, step, signal, cpuMs }) {
  const latenciesMs = [];
  let units = 0;
  let errors = 0;
  let firstError = null;
  const windowStart = performance.now() + warmupMs;
  const windowEnd = windowStart + durationMs;
  let cpuAtStart = null;
  let cpuAtEnd = null;
  const timers =
    cpuMs === undefined
      ? []
      : [
          setTimeout(() => (cpuAtStart = cpuMs()), warmupMs),
          setTimeout(() => (cpuAtEnd = cpuMs()), warmupMs + durationMs),
        ];
  const client = async (c) => {
    for (let n = 0; n < REQUESTS_PER_CLIENT_MAX && performance.now() < windowEnd && !signal?.aborted; n++) {
      const start = performance.now();
      let moved = 0;
      let failed = null;
      try {
        moved = await step(c);
      } catch (error) {
        failed = error;
      }
      const end = performance.now();
      const counted = start >= windowStart && end <= windowEnd;
      if (failed === null && counted) {
        latenciesMs.push(end - start);
        units += moved;
      } else if (failed !== null) {
        if (counted) errors++;
        firstError ??= failed.message;
        await new Promise((resolve) => setTimeout(resolve, ERROR_PAUSE_MS));
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  for (const timer of timers) clearTimeout(timer);
  // The clients may all stop a moment before the end's timer fires (each stops at the window's end): read it now.
  if (cpuMs !== undefined && cpuAtStart !== null && cpuAtEnd === null) cpuAtEnd = cpuMs();
  const cpu = cpuAtStart !== null && cpuAtEnd !== null ? cpuAtEnd - cpuAtStart : null;
  return { latenciesMs, units, seconds: durationMs / 1000, errors, firstError, cpuMs: cpu };
}
