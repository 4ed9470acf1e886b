/**
 * `kalam node kill|start|restart|partition|heal|disk|wipe|logs`: thin layers over cluster/control.ts, each
 * against the cluster picked by --name/--dir (default: the one running). Exit codes: 0 done; 2 the cluster is
 * not running, an unknown node id, a command that does not fit the node's state (start a running node, wipe a
 * running one, fault a down one); 1 the node failed to start or the supervisor refused.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';

import { connectCluster, resolveCluster } from '../cluster/control.js';
import { manifestNode, readManifest } from '../cluster/folder.js';
import { CLUSTER_LIMITS } from '../cluster/limits.js';
import type { KillSignal, NodeId, PartitionDirection } from '../cluster/types.js';
import type { CliContext } from '../context.js';
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
    .summary('control one node of a local cluster: kill, start, partition, heal, disk, logs')
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
