/**
 * `kalam node kill|start|restart|partition|heal|disk|wipe|logs|add|remove|replace`: thin layers over
 * cluster/control.ts, each against the cluster picked by --name/--dir (default: the one running). Exit codes: 0
 * done; 2 the cluster is not running, an unknown node id (NODE_NOT_FOUND for the cluster's own list), a command
 * that does not fit the node's state (start a running node, wipe a running one, fault a down one); 1 the node
 * failed to start, the supervisor or the cluster refused (MEMBERSHIP_REFUSED: QUORUM_AT_RISK, TOO_MANY_AT_ONCE, …),
 * or a membership change did not finish in time (CLUSTER_TIMEOUT).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';

import { connectCluster, replaceNode, resolveCluster } from '../cluster/control.js';
import { manifestNode, readManifest } from '../cluster/folder.js';
import { CLUSTER_LIMITS } from '../cluster/limits.js';
import type { KillSignal, NodeId, PartitionDirection } from '../cluster/types.js';
import type { CliContext } from '../context.js';
import { printJson } from '../output.js';
import { integerIn } from '../parse.js';
import type { ClusterPick } from './cluster.js';
import { addClusterPick, pickOf } from './cluster.js';

const nodeIdArg = integerIn(1, CLUSTER_LIMITS.nodesMax);

function signalArg(value: string): KillSignal {
  const upper = value.toUpperCase().replace(/^SIG/, '');
  if (upper === 'KILL' || upper === 'TERM' || upper === 'STOP' || upper === 'CONT') return upper;
  throw new InvalidArgumentError('Expected KILL, TERM, STOP or CONT.');
}

function directionArg(value: string): PartitionDirection {
  if (value === 'both' || value === 'in' || value === 'out') return value;
  throw new InvalidArgumentError('Expected both, in or out.');
}

function nodeListArg(value: string): NodeId[] {
  return value.split(',').map((part) => nodeIdArg(part));
}

export function registerNode(program: Command, ctx: CliContext): void {
  const node = program
    .command('node')
    .summary('control one node of a local cluster: add, remove, replace, kill, start, partition, heal, disk, logs')
    .description('Control one node of a cluster started with `kalam cluster up`.');

  addClusterPick(
    node
      .command('kill')
      .description('Send a signal to a node (KILL and TERM return once it is gone; STOP pauses, CONT resumes).')
      .argument('<node>', 'node id', nodeIdArg)
      .option('--signal <signal>', 'KILL, TERM, STOP or CONT', signalArg, 'KILL' as KillSignal),
  ).action(async (id: number, raw: ClusterPick & { signal: KillSignal }) => {
    await (await connectCluster(pickOf(raw))).kill(id, raw.signal);
    ctx.out.note(`node ${id}: SIG${raw.signal} sent`);
  });

  addClusterPick(
    node
      .command('start')
      .description('Start a node that is down; returns once it is ready.')
      .argument('<node>', 'node id', nodeIdArg),
  ).action(async (id: number, raw: ClusterPick) => {
    await (await connectCluster(pickOf(raw))).start(id);
    ctx.out.note(`node ${id} is up`);
  });

  addClusterPick(
    node
      .command('restart')
      .description('Stop a node gracefully (SIGTERM, SIGKILL after a bound) and start it again.')
      .argument('<node>', 'node id', nodeIdArg),
  ).action(async (id: number, raw: ClusterPick) => {
    await (await connectCluster(pickOf(raw))).restart(id);
    ctx.out.note(`node ${id} restarted`);
  });

  addClusterPick(
    node
      .command('partition')
      .description('Cut a node off from others (rules set on both ends, so the cut is exact). Undo with `node heal`.')
      .argument('<node>', 'node id', nodeIdArg)
      .option('--from <ids>', 'comma-separated node ids (default: every other node)', nodeListArg)
      .option(
        '--direction <dir>',
        'both, in (it hears nothing) or out (it reaches nobody)',
        directionArg,
        'both' as PartitionDirection,
      ),
  ).action(async (id: number, raw: ClusterPick & { from?: NodeId[]; direction: PartitionDirection }) => {
    await (
      await connectCluster(pickOf(raw))
    ).partition(id, {
      ...(raw.from !== undefined && { from: raw.from }),
      direction: raw.direction,
    });
    ctx.out.note(
      `node ${id} partitioned (${raw.direction})${raw.from === undefined ? '' : ` from ${raw.from.join(',')}`}`,
    );
  });

  addClusterPick(
    node
      .command('heal')
      .description('Clear partition and network rules of one node (on it and toward it), or of every node.')
      .argument('[node]', 'node id (default: every node)', nodeIdArg),
  ).action(async (id: number | undefined, raw: ClusterPick) => {
    await (await connectCluster(pickOf(raw))).heal(id);
    ctx.out.note(id === undefined ? 'every node healed' : `node ${id} healed`);
  });

  addClusterPick(
    node
      .command('disk')
      .description('A slow disk inside a node: every fsync of its Raft log waits D ms (0 clears).')
      .argument('<node>', 'node id', nodeIdArg)
      .requiredOption('--fsync-delay-ms <ms>', 'delay per fsync', integerIn(0, 60_000)),
  ).action(async (id: number, raw: ClusterPick & { fsyncDelayMs: number }) => {
    await (await connectCluster(pickOf(raw))).disk(id, raw.fsyncDelayMs);
    ctx.out.note(`node ${id}: fsync delay ${raw.fsyncDelayMs} ms`);
  });

  addClusterPick(
    node
      .command('wipe')
      .description("Delete a stopped node's data folder (it rejoins empty and catches up by snapshot).")
      .argument('<node>', 'node id', nodeIdArg),
  ).action(async (id: number, raw: ClusterPick) => {
    await (await connectCluster(pickOf(raw))).wipe(id);
    ctx.out.note(`node ${id}: data wiped`);
  });

  const timeoutOption = (cmd: Command): Command =>
    cmd.option(
      '--timeout-ms <ms>',
      `how long to wait for the cluster to finish the change (default ${CLUSTER_LIMITS.membershipTimeoutMs})`,
      integerIn(1_000, 3_600_000),
    );
  /** Progress to stderr: one line when what the wait sees changes, and every few seconds while it does not. */
  const progress = (line: string): void => ctx.out.note(line);

  addClusterPick(
    timeoutOption(
      node
        .command('add')
        .description(
          'Start a new node (free ports, an empty data folder, --join through a live member), wait until it is a ' +
            'voter of every group, print its id.',
        )
        .option('--via <node>', 'the member to join through (default: the lowest id up)', nodeIdArg)
        .option('--json', 'print {"id","rpc_addr","api_addr","pid","took_ms"}'),
    ),
  ).action(async (raw: ClusterPick & { via?: number; json?: boolean; timeoutMs?: number }) => {
    const ctl = await connectCluster(pickOf(raw));
    const added = await ctl.addNode({
      onProgress: progress,
      ...(raw.via !== undefined && { via: raw.via }),
      ...(raw.timeoutMs !== undefined && { timeoutMs: raw.timeoutMs }),
    });
    if (raw.json === true) {
      printJson(ctx.out, {
        id: added.id,
        rpc_addr: added.rpcAddr,
        api_addr: added.apiUrl,
        pid: added.pid,
        took_ms: added.tookMs,
      });
    } else {
      ctx.out.line(
        `node ${added.id} added: a voter of every group (${added.apiUrl}, pid ${added.pid}, ${added.tookMs} ms)`,
      );
    }
  });

  addClusterPick(
    timeoutOption(
      node
        .command('remove')
        .description(
          'Remove a node from the cluster (the removal API), wait until no group lists it, then stop its process ' +
            'and mark it removed. It may be up or down.',
        )
        .argument('<node>', 'node id', nodeIdArg)
        .option('--json', 'print {"id","stopped","took_ms"}'),
    ),
  ).action(async (id: number, raw: ClusterPick & { json?: boolean; timeoutMs?: number }) => {
    const ctl = await connectCluster(pickOf(raw));
    const removed = await ctl.removeNode(id, {
      onProgress: progress,
      ...(raw.timeoutMs !== undefined && { timeoutMs: raw.timeoutMs }),
    });
    if (raw.json === true) printJson(ctx.out, { id, stopped: removed.stopped, took_ms: removed.tookMs });
    else ctx.out.line(`node ${id} removed: no group lists it (${removed.tookMs} ms)`);
  });

  addClusterPick(
    timeoutOption(
      node
        .command('replace')
        .description(
          'Add a new node (a new id) and, once it votes in every group, remove the given one — alive, killed, or ' +
            'wiped.',
        )
        .argument('<node>', 'the node id to replace', nodeIdArg)
        .option('--json', 'print {"removed","id","rpc_addr","api_addr","pid","took_ms"}'),
    ),
  ).action(async (id: number, raw: ClusterPick & { json?: boolean; timeoutMs?: number }) => {
    const ctl = await connectCluster(pickOf(raw));
    const t0 = Date.now();
    const { added } = await replaceNode(ctl, id, {
      onProgress: progress,
      ...(raw.timeoutMs !== undefined && { timeoutMs: raw.timeoutMs }),
    });
    const tookMs = Date.now() - t0;
    if (raw.json === true) {
      printJson(ctx.out, {
        removed: id,
        id: added.id,
        rpc_addr: added.rpcAddr,
        api_addr: added.apiUrl,
        pid: added.pid,
        took_ms: tookMs,
      });
    } else ctx.out.line(`node ${id} replaced by node ${added.id} (${added.apiUrl}, ${tookMs} ms)`);
  });

  addClusterPick(
    node
      .command('logs')
      .description("Print a node's log (stdout and stderr); --follow keeps printing until Ctrl-C.")
      .argument('<node>', 'node id', nodeIdArg)
      .option('--follow', 'keep printing what is appended'),
  ).action(async (id: number, raw: ClusterPick & { follow?: boolean }) => {
    const ref = resolveCluster(pickOf(raw));
    const file = manifestNode(readManifest(ref.dir), id).logPath;
    let offset = 0;
    const drain = (): void => {
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch {
        return; // not written yet
      }
      try {
        if (statSync(file).size < offset) offset = 0; // truncated or replaced
        const buffer = Buffer.alloc(CLUSTER_LIMITS.logChunkBytes);
        for (;;) {
          const n = readSync(fd, buffer, 0, buffer.length, offset);
          if (n === 0) break;
          offset += n;
          ctx.out.stdout.write(buffer.subarray(0, n).toString('utf8'));
        }
      } finally {
        closeSync(fd);
      }
    };
    drain();
    if (raw.follow !== true) return;
    let interrupted = false;
    const onSigint = (): void => {
      interrupted = true;
    };
    process.on('SIGINT', onSigint);
    try {
      while (!interrupted) {
        await sleep(CLUSTER_LIMITS.followIntervalMs);
        drain();
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
  });
}
