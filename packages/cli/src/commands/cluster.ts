/**
 * `kalam cluster up|status|down` and the hidden `kalam supervisor`: thin layers over cluster/control.ts.
 *
 *   up --nodes N [--name NAME] [--dir DIR] [--base-port P] [--json] [--netns]
 *                                                                     exit 0 ready; 2 already running, a port in
 *                                                                     use, bad usage, --netns without root; 1 not
 *                                                                     ready in time
 *   status [--json] [--watch]                                         exit 0; 2 the cluster is not running
 *   down [--wipe]                                                     exit 0; 2 not running (and nothing to wipe)
 *
 * Without --name/--dir a command means the one cluster running under .kalam/clusters/ (several: exit 2), else
 * "default".
 */
import { existsSync, rmSync } from 'node:fs';
import { relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Command } from 'commander';
import { Option } from 'commander';

import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { cleanUpNetns, connectCluster, resolveCluster, upCluster } from '../cluster/control.js';
import {
  DEFAULT_CLUSTER_NAME,
  folderFiles,
  pidAlive,
  readSupervisorInfo,
  removeSupervisorInfo,
} from '../cluster/folder.js';
import { CLUSTER_LIMITS } from '../cluster/limits.js';
import { renderStatus } from '../cluster/render.js';
import { NODE_ARGS_VARIABLE, NODE_ENV_VARIABLE, runSupervisor } from '../cluster/supervisor.js';
import type { ClusterStatus } from '../cluster/types.js';
import { printJson } from '../output.js';
import { corsOrigins, integerIn } from '../parse.js';

export interface ClusterPick {
  readonly name?: string;
  readonly dir?: string;
}

export function addClusterPick(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'the cluster (folder .kalam/clusters/NAME); default: the one running, else "default"')
    .option('--dir <dir>', 'the cluster folder (instead of --name)');
}

export function pickOf(raw: ClusterPick): ClusterPick {
  return { ...(raw.name !== undefined && { name: raw.name }), ...(raw.dir !== undefined && { dir: raw.dir }) };
}

interface RawUp extends ClusterPick {
  readonly nodes: number;
  readonly basePort?: number;
  readonly tls?: boolean;
  readonly json?: boolean;
  readonly netns?: boolean;
  readonly corsOrigin?: readonly string[];
}

interface RawStatus extends ClusterPick {
  readonly json?: boolean;
  readonly watch?: boolean;
  readonly frames?: number;
}

export function registerCluster(program: Command, ctx: CliContext): void {
  const cluster = program
    .command('cluster')
    .summary('run a local cluster: up, status, down')
    .description('Run a local Kalam cluster under a supervisor (one process per node, logs in the cluster folder).');

  addClusterPick(
    cluster
      .command('up')
      .description(
        'Write a cluster folder (configs, random secrets, mode 0600), start a supervisor and its nodes, and wait ' +
          'until every group has a leader. Exit codes: 0 ready; 2 already running, a port in use, bad usage; ' +
          '1 not ready in time.',
      )
      .requiredOption('--nodes <n>', 'how many nodes', integerIn(CLUSTER_LIMITS.nodesMin, CLUSTER_LIMITS.nodesMax))
      .option(
        '--base-port <port>',
        `API ports are P..P+N-1, Raft ports P+${CLUSTER_LIMITS.rpcPortOffset}.. (default ${CLUSTER_LIMITS.defaultBasePort})`,
        integerIn(CLUSTER_LIMITS.basePortMin, CLUSTER_LIMITS.basePortMax),
      )
      .option(
        '--tls',
        'make a CA and a certificate per node (in the folder, keys 0600): https API, mutual TLS between nodes',
      )
      .option('--json', 'print the cluster status as JSON')
      .option(
        '--netns',
        'run each node in its own network namespace on a bridge (10.77.K.0/24), so `node partition` cuts real paths (root only)',
      )
      .option(
        '--cors-origin <origin>',
        "let pages of this origin (scheme://host[:port], or *) call every node's API — a browser app on @kalam/client; repeatable",
        corsOrigins,
      ),
  ).action(async (raw: RawUp) => {
    const tty = ctx.out.stderr.isTTY === true && raw.json !== true;
    // On a terminal the progress line redraws in place; elsewhere each new state is one line (repeats dropped).
    let last = '';
    const onProgress = tty
      ? (line: string): void => void ctx.out.stderr.write(`\r\x1b[2K${line}`)
      : (line: string): void => {
          if (line !== last && raw.json !== true) ctx.out.note(line);
          last = line;
        };
    const controller = await upCluster({
      nodes: raw.nodes,
      ...pickOf(raw),
      ...(raw.basePort !== undefined && { basePort: raw.basePort }),
      ...(raw.netns === true && { netns: true }),
      ...(raw.tls === true && { tls: true }),
      // The nodes read [server] cors_origins from their environment too (server/src/config.ts).
      ...(raw.corsOrigin !== undefined && { env: { KALAM_SERVER_CORS_ORIGINS: raw.corsOrigin.join(',') } }),
      onProgress,
    });
    if (tty) ctx.out.stderr.write('\r\x1b[2K');
    const status = await controller.status();
    if (raw.json === true) {
      printJson(ctx.out, status);
      return;
    }
    for (const line of renderStatus(ctx.out, status, columnsOf(ctx))) ctx.out.line(line);
    const m = controller.manifest;
    const byName = m.dir === resolveCluster({ name: m.name }).dir;
    const pick = byName ? `--cluster ${m.name}` : `--dir ${m.dir}`;
    const select = byName ? (m.name === DEFAULT_CLUSTER_NAME ? '' : ` --name ${m.name}`) : ` --dir ${m.dir}`;
    ctx.out.line('');
    ctx.out.line(
      `connect:  kalam sql ${pick} "SELECT 1"   (user root; password in ${relativeOr(folderFiles.credentials(m.dir))})`,
    );
    const first = status.nodes[0];
    if (first !== undefined) ctx.out.line(`console:  ${first.apiUrl}/console   (any node serves it; same user)`);
    ctx.out.line(`logs:     ${relativeOr(m.dir)}/logs/    stop: kalam cluster down${select} [--wipe]`);
  });

  addClusterPick(
    cluster
      .command('status')
      .description('Nodes (state, pid, uptime, faults) and every group (leader, term, lag). Exit 2 when not running.')
      .option('--json', 'print the ClusterStatus as JSON')
      .option('--watch', `redraw every ${CLUSTER_LIMITS.watchIntervalMs} ms until Ctrl-C`)
      .addOption(
        new Option('--frames <n>', 'stop --watch after n frames').argParser(integerIn(1, 1_000_000)).hideHelp(),
      ),
  ).action(async (raw: RawStatus) => {
    const controller = await connectCluster(pickOf(raw));
    const show = (status: ClusterStatus): void => {
      if (raw.json === true) printJson(ctx.out, status);
      else for (const line of renderStatus(ctx.out, status, columnsOf(ctx))) ctx.out.line(line);
    };
    if (raw.watch !== true) {
      show(await controller.status());
      return;
    }
    let interrupted = false;
    const onSigint = (): void => {
      interrupted = true;
    };
    process.on('SIGINT', onSigint);
    try {
      const clear = ctx.out.stdout.isTTY === true && raw.json !== true;
      for (let frame = 0; !interrupted && (raw.frames === undefined || frame < raw.frames); frame++) {
        const status = await controller.status();
        if (clear) ctx.out.stdout.write('\x1b[H\x1b[2J');
        show(status);
        if (raw.frames !== undefined && frame + 1 >= raw.frames) break;
        await sleep(CLUSTER_LIMITS.watchIntervalMs);
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
  });

  addClusterPick(
    cluster
      .command('down')
      .description('Stop every node (SIGTERM, SIGKILL after a bound) and the supervisor; --wipe removes the folder.')
      .option('--wipe', 'also delete the cluster folder (data, logs, configs, secrets)'),
  ).action(async (raw: ClusterPick & { wipe?: boolean }) => {
    const ref = resolveCluster(pickOf(raw));
    const info = readSupervisorInfo(ref.dir);
    if (info === undefined || !pidAlive(info.pid)) {
      // A supervisor that crashed left its namespaces: they go by the names netns.json recorded.
      const leftovers = existsSync(ref.dir) ? cleanUpNetns(ref.dir) : 0;
      if (leftovers > 0)
        ctx.out.note(`cluster ${ref.name}: removed ${leftovers} leftover network namespaces and links`);
      if (raw.wipe === true && existsSync(ref.dir)) {
        removeSupervisorInfo(ref.dir);
        rmSync(ref.dir, { recursive: true, force: true });
        ctx.out.note(`cluster ${ref.name} was not running; removed ${ref.dir}`);
        return;
      }
      removeSupervisorInfo(ref.dir);
      if (leftovers > 0) return;
      throw new CliError('CLUSTER_NOT_RUNNING', `cluster ${ref.name} is not running (${ref.dir})`);
    }
    const controller = await connectCluster(pickOf(raw));
    await controller.down({ wipe: raw.wipe === true });
    ctx.out.note(`cluster ${ref.name} is down${raw.wipe === true ? `; removed ${ref.dir}` : ''}`);
  });

  program
    .command('supervisor', { hidden: true })
    .description('(internal) the supervisor `kalam cluster up` starts detached')
    .requiredOption('--dir <dir>', 'the cluster folder')
    .action(async (raw: { dir: string }) => {
      await runSupervisor({
        dir: raw.dir,
        nodeEnv: parseJson<Record<string, string>>(process.env[NODE_ENV_VARIABLE], {}),
        nodeArgs: parseJson<string[]>(process.env[NODE_ARGS_VARIABLE], []),
      });
    });
}

function parseJson<T>(text: string | undefined, fallback: T): T {
  if (text === undefined || text === '') return fallback;
  return JSON.parse(text) as T;
}

function columnsOf(ctx: CliContext): number {
  return ctx.out.stdout.columns ?? 120;
}

function relativeOr(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || rel === '' ? path : rel;
}
