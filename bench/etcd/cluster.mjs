// A 3-member etcd cluster on loopback for the benchmark: ports picked free at run time, data and logs in a folder
// the caller owns, readiness (every member agrees on a leader) raced against a member's early exit under a bound,
// and members stopped by the PIDs this process spawned — SIGTERM, then SIGKILL if one has not exited in time.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseStatusReply, statusRequest } from './gateway.mjs';
import { Connection } from './load.mjs';

const HOST = '127.0.0.1';
/** A fresh cluster elects its first leader within a few election timeouts (1 s each by default). */
const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 100;
const STATUS_TIMEOUT_MS = 1_000;
/** etcd stops within a second of SIGTERM; past this it is killed. */
const STOP_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 5_000;
const VERSION_TIMEOUT_MS = 10_000;
const LOG_TAIL_CHARS = 1_500;

/**
 * `etcd --version`'s first line ("etcd Version: 3.4.23"), or null when `bin` cannot be run at all (not installed, not
 * executable).
 */
export function etcdVersion(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS, env: etcdEnv() });
  if (r.error !== undefined || r.status !== 0) return null;
  const match = /etcd Version:\s*(\S+)/.exec(r.stdout);
  return match?.[1] ?? r.stdout.split('\n')[0].trim();
}

/**
 * etcd reads every ETCD_* variable as a flag (ETCD_BIN would be an unknown flag), so members get the environment
 * without them: only the command line configures them.
 */
function etcdEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ETCD_')));
}

/** `count` distinct loopback ports that were free a moment ago: all held open at once, then released. */
async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, HOST, resolve);
      });
    }
    return servers.map((srv) => srv.address().port);
  } finally {
    await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(() => resolve()))));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class EtcdCluster {
  /** Members: { name, clientUrl, peerUrl, dataDir, log, proc, exited: Promise<{code, signal}>, done } */
  members = [];
  version = null;

  constructor({ bin, dir, size }) {
    this.bin = bin;
    this.dir = dir;
    this.size = size;
  }

  /** Starts `size` members under `dir` and waits until all of them know the same leader. */
  static async start({ bin, dir, size = 3 }) {
    const cluster = new EtcdCluster({ bin, dir, size });
    try {
      await cluster.spawnAll();
      await cluster.awaitLeader(READY_TIMEOUT_MS);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  async spawnAll() {
    mkdirSync(this.dir, { recursive: true });
    const ports = await freePorts(2 * this.size);
    for (let i = 0; i < this.size; i++) {
      const name = `m${i + 1}`;
      this.members.push({
        name,
        clientUrl: `http://${HOST}:${ports[2 * i]}`,
        peerUrl: `http://${HOST}:${ports[2 * i + 1]}`,
        dataDir: join(this.dir, name),
        log: join(this.dir, `${name}.log`),
      });
    }
    const initialCluster = this.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    const token = `kalam-bench-${process.pid}-${Date.now()}`;
    for (const m of this.members) this.spawnMember(m, initialCluster, token);
  }

  spawnMember(m, initialCluster, token) {
    // etcd's defaults otherwise (heartbeat 100 ms, election 1 s, fsync on), as a user would run it.
    const args = [
      ['--name', m.name],
      ['--data-dir', m.dataDir],
      ['--listen-client-urls', m.clientUrl],
      ['--advertise-client-urls', m.clientUrl],
      ['--listen-peer-urls', m.peerUrl],
      ['--initial-advertise-peer-urls', m.peerUrl],
      ['--initial-cluster', initialCluster],
      ['--initial-cluster-state', 'new'],
      ['--initial-cluster-token', token],
      ['--logger', 'zap'],
      ['--log-level', 'warn'],
    ].flat();
    const fd = openSync(m.log, 'a');
    try {
      m.proc = spawn(this.bin, args, { stdio: ['ignore', fd, fd], env: etcdEnv() });
    } finally {
      closeSync(fd);
    }
    m.done = false;
    m.exited = new Promise((resolve) => {
      m.proc.once('error', (error) => {
        m.done = true;
        resolve({ code: null, signal: null, error });
      });
      m.proc.once('exit', (code, signal) => {
        m.done = true;
        resolve({ code, signal });
      });
    });
  }

  /** Polls every member's status until all name the same leader; fails when a member exits or after `timeoutMs`. */
  async awaitLeader(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no status yet';
    while (Date.now() < deadline) {
      const gone = this.members.find((m) => m.done);
      if (gone !== undefined) throw new Error(`etcd member ${gone.name} exited while starting: ${this.logTail(gone)}`);
      const statuses = await Promise.all(this.members.map((m) => this.status(m).catch((e) => e)));
      const failed = statuses.find((s) => s instanceof Error);
      if (failed === undefined && statuses.every((s) => s.leaderId !== '0' && s.leaderId === statuses[0].leaderId)) {
        this.version = statuses[0].version;
        return this.members[statuses.findIndex((s) => s.isLeader)];
      }
      last = failed?.message ?? `leaders ${statuses.map((s) => s.leaderId).join(', ')}`;
      await sleep(READY_POLL_MS);
    }
    throw new Error(`etcd: no leader agreed on within ${timeoutMs} ms (${last})`);
  }

  async status(member) {
    const conn = new Connection(member.clientUrl);
    try {
      const { path, body } = statusRequest();
      const reply = await conn.post(path, body, { timeoutMs: STATUS_TIMEOUT_MS });
      return parseStatusReply(reply.status, reply.text);
    } finally {
      conn.close();
    }
  }

  /** The member that leads now (asked again before every window: a leader can change under load). */
  async leader() {
    const m = await this.awaitLeader(READY_TIMEOUT_MS);
    if (m === undefined) throw new Error('etcd: the members agree on a leader that none of them is');
    return m;
  }

  logTail(member) {
    if (!existsSync(member.log)) return '(no log)';
    return readFileSync(member.log, 'utf8').slice(-LOG_TAIL_CHARS).trim();
  }

  /** SIGTERM every member by PID, SIGKILL any still running after STOP_TIMEOUT_MS; resolves once all have exited. */
  async stop() {
    await Promise.all(
      this.members.map(async (m) => {
        if (m.proc === undefined || m.done) return;
        signal(m.proc.pid, 'SIGTERM');
        if (await exitsWithin(m.exited, STOP_TIMEOUT_MS)) return;
        signal(m.proc.pid, 'SIGKILL');
        if (!(await exitsWithin(m.exited, KILL_TIMEOUT_MS)))
          throw new Error(`etcd ${m.name} (pid ${m.proc.pid}) lives on`);
      }),
    );
  }

  /** For the process's exit handler, which cannot wait: SIGKILL every member still running. */
  killNow() {
    for (const m of this.members) if (m.proc !== undefined && !m.done) signal(m.proc.pid, 'SIGKILL');
  }
}

/** Signals one PID this process spawned; a member that has just exited (ESRCH) is not an error. */
function signal(pid, name) {
  if (pid === undefined) return;
  try {
    process.kill(pid, name);
  } catch (error) {
    if (error.code !== 'ESRCH') throw error;
  }
}

async function exitsWithin(exited, ms) {
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([exited.then(() => true), timeout]);
  clearTimeout(timer);
  return result;
}
