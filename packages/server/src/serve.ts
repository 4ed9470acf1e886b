/**
 * `kalam serve --config FILE`: loads the config (with KALAM_* overrides), starts the node and its HTTP API, prints
 * one JSON line `{"event":"ready","mode","node_id","api_url","pid"}` on stdout, and runs until SIGTERM or SIGINT
 * — or, with `exitWithStdin` (`kalam serve --exit-with-stdin`), until its stdin ends or closes: a supervisor
 * spawns the node with a stdin pipe it never writes, and when the supervisor dies, even by SIGKILL, the kernel
 * closes the pipe and the node stops the same graceful, bounded way (no orphans).
 *
 * A graceful stop, bounded by SERVER_LIMITS.shutdownHardMs: stop accepting (requests in flight finish, new ones
 * get 503), hand over every group this node leads, stop Raft, close data.db. `serve` never exits the process: it
 * resolves with the exit code (0 stopped cleanly, 1 the stop hit its bound) and the caller exits with it; a
 * startup failure is thrown (a ConfigError or a STARTUP_FAILED ServerError) for the caller to map to exit 2.
 */
import { readFileSync } from 'node:fs';

import { ApplyFatalError } from '@kalam/kalamdb';

import { loadConfig } from './config.js';
import { ServerError } from './errors.js';
import { createApiServer } from './http.js';
import { SERVER_LIMITS } from './limits.js';
import { testSwitchesFromEnv } from './planted.js';
import { startNode } from './runtime.js';
import type { LogLevel, NodeLog } from './runtime.js';

export interface ServeOptions {
  /** Where the ready line goes; default: process.stdout. */
  readonly stdout?: (line: string) => void;
  /** Where log lines (JSON) go; default: process.stderr, info and above. */
  readonly log?: NodeLog;
  /** KALAM_* config overrides and the test switches of planted.ts; default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Signals that start a graceful stop. Default: SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Also stop gracefully when process.stdin ends or closes (the supervisor's pipe). Default: false. */
  readonly exitWithStdin?: boolean;
  /** `kalam serve --join ADDR`: sets cluster.join (a member's API or RPC address), over the file and the environment. */
  readonly join?: string;
}

export interface ServeExit {
  readonly code: 0 | 1;
  readonly reason: string;
}

export interface ReadyLine {
  readonly event: 'ready';
  readonly mode: 'standalone' | 'cluster';
  readonly node_id: number;
  readonly api_url: string;
  readonly pid: number;
}

export const serverVersion: string = readVersion();

function readVersion(): string {
  // dist/src/serve.js → the package root.
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const version = typeof pkg === 'object' && pkg !== null ? (pkg as { version?: unknown }).version : undefined;
  return typeof version === 'string' ? version : '0.0.0';
}

function stderrLog(level: LogLevel, event: string, fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
}

/**
 * An error that escapes the driver (an entry this node cannot apply: its storage failed or an invariant broke,
 * ApplyFatalError) ends the process with exit 1, after one `node.fatal` line that says which and where. Exiting is
 * the point: a replica that cannot apply an entry must neither skip it nor keep serving.
 */
function stopOnFatal(log: NodeLog): void {
  process.once('uncaughtException', (err: unknown) => {
    const fields: Record<string, unknown> = { error: err instanceof Error ? err.message : String(err) };
    if (err instanceof ApplyFatalError) {
      Object.assign(fields, { reason: err.reason, group: err.groupId, index: err.index, command: err.commandType });
    } else if (err instanceof Error && err.stack !== undefined) {
      fields['stack'] = err.stack;
    }
    log('error', 'node.fatal', fields);
    process.exit(1);
  });
}

/** Runs one node until a stop signal; see the module comment. */
export async function serve(configPath: string, opts: ServeOptions = {}): Promise<ServeExit> {
  const log = opts.log ?? stderrLog;
  stopOnFatal(log);
  const env =
    opts.join === undefined
      ? (opts.env ?? process.env)
      : { ...(opts.env ?? process.env), KALAM_CLUSTER_JOIN: opts.join };
  const config = loadConfig(configPath, env);
  const switches = testSwitchesFromEnv(env);
  const node = await startNode(config, { log, testSwitches: switches });
  const api = createApiServer(node, {
    log,
    version: serverVersion,
    plantedAckWithoutCommit: switches.ackWithoutCommit,
  });
  let address: { url: string };
  try {
    address = await api.listen();
  } catch (err) {
    await node.stop();
    const detail = err instanceof Error ? err.message : String(err);
    throw new ServerError('STARTUP_FAILED', `cannot listen on server.api_addr: ${detail}`, { cause: err });
  }
  const ready: ReadyLine = {
    event: 'ready',
    mode: config.mode,
    node_id: node.nodeId,
    api_url: address.url,
    pid: process.pid,
  };
  (opts.stdout ?? ((line) => void process.stdout.write(`${line}\n`)))(JSON.stringify(ready));

  // A node removed from the cluster stops the same graceful way (membership.ts logged node.removed with why).
  const signal = await Promise.race([
    waitForStop(opts.signals ?? ['SIGTERM', 'SIGINT'], opts.exitWithStdin === true),
    node.removed.then(() => 'removed from the cluster'),
  ]);
  log('info', 'node.stopping', { signal });
  const graceful = (async (): Promise<ServeExit> => {
    const drained = await api.drain(SERVER_LIMITS.drainTimeoutMs);
    if (!drained) log('warn', 'node.drain_timeout', { timeoutMs: SERVER_LIMITS.drainTimeoutMs });
    await api.close();
    await node.stop({ transferLeadership: true });
    return { code: 0, reason: `stopped on ${signal}` };
  })();
  let timer: NodeJS.Timeout | undefined;
  const hard = new Promise<ServeExit>((resolve) => {
    timer = setTimeout(
      () => resolve({ code: 1, reason: `the graceful stop took over ${SERVER_LIMITS.shutdownHardMs} ms` }),
      SERVER_LIMITS.shutdownHardMs,
    );
  });
  const graceResult = graceful.catch((err: unknown): ServeExit => ({
    code: 1,
    reason: `the graceful stop failed: ${err instanceof Error ? err.message : String(err)}`,
  }));
  const exit = await Promise.race([graceResult, hard]);
  clearTimeout(timer);
  log(exit.code === 0 ? 'info' : 'error', 'node.stopped', { ...exit });
  return exit;
}

/**
 * Resolves with the first of `signals` received (or "stdin closed" when `onStdinEnd` and stdin ends); a signal
 * while stopping is ignored (the bound holds).
 */
function waitForStop(signals: readonly NodeJS.Signals[], onStdinEnd: boolean): Promise<string> {
  return new Promise((resolve) => {
    const handlers = new Map<NodeJS.Signals, () => void>();
    let stopped = false;
    const stop = (why: string): void => {
      if (stopped) return;
      stopped = true;
      for (const [other, h] of handlers) process.off(other, h);
      // Keep the default action off: a second Ctrl-C must not kill the process mid-flush.
      for (const other of signals) process.on(other, ignore);
      resolve(why);
    };
    for (const s of signals) {
      const handler = (): void => stop(s);
      handlers.set(s, handler);
      process.on(s, handler);
    }
    if (onStdinEnd) {
      // Whatever arrives is discarded; only the end matters. An error on the pipe means the same.
      process.stdin.on('data', ignore);
      process.stdin.once('end', () => stop('stdin closed'));
      process.stdin.once('close', () => stop('stdin closed'));
      process.stdin.once('error', () => stop('stdin closed'));
      process.stdin.resume();
    }
  });
}

function ignore(): void {
  // Intentionally nothing: see waitForSignal.
}
