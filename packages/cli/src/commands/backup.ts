/**
 * `kalam backup --to FILE|DIR [--dir DIR | --cluster NAME | --url URL] [--password P] [--json]` and
 * `kalam restore FILE --into DIR [--nodes N] [--base-port P] [--password P] [--json]` (issue [M10] §3; README
 * "Backup and restore"). Thin layers over backup/take.ts and backup/restore.ts: progress on stderr, the result on
 * stdout (a table, or one JSON line).
 *
 * Exit codes: 0 done; 1 no node answered or one refused or cut a snapshot (backup), or the backup is corrupt, truncated
 * or inconsistent (restore: nothing written); 2 bad usage, a backup file that exists, or a restore target not empty.
 */
import { Option } from 'commander';
import type { Command } from 'commander';

import { restoreBackup } from '../backup/restore.js';
import { takeBackup } from '../backup/take.js';
import { CLUSTER_LIMITS } from '../cluster/limits.js';
import { findFreeBasePort } from '../cluster/folder.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { printJson } from '../output.js';
import { integerIn } from '../parse.js';
import { resolveTarget, ROOT_PASSWORD_ENV } from '../sql-shell/target.js';

interface RawBackup {
  readonly to: string;
  readonly cluster?: string;
  readonly dir?: string;
  readonly url?: string;
  readonly password?: string;
  readonly json?: boolean;
}

interface RawRestore {
  readonly into: string;
  readonly nodes: number;
  readonly basePort?: number;
  readonly password?: string;
  readonly name?: string;
  readonly json?: boolean;
}

const MB = 1024 * 1024;

export function registerBackup(program: Command, ctx: CliContext): void {
  program
    .command('backup')
    .summary('copy every group of a running cluster into one backup file')
    .description(
      'Back up a running cluster: one node takes, group after group (meta:system last), a linearizable read point ' +
        'and a snapshot at or past it, streamed into one file with a manifest and checksums (README "Backup and ' +
        'restore"). The cluster serves throughout. --to DIR writes DIR/<cluster id>-<time>.kalam-backup. ' +
        'Exit codes: 0 done, 1 no node answered or one refused or cut a snapshot, 2 bad usage or the file exists.',
    )
    .requiredOption('--to <path>', 'the backup file, or a directory to write it in')
    .addOption(new Option('--cluster <name>', 'the cluster folder .kalam/clusters/NAME').conflicts(['dir', 'url']))
    .addOption(new Option('--dir <dir>', 'the cluster folder DIR').conflicts(['url']))
    .option('--url <url>', 'a node API URL (user root, password --password or $KALAM_ROOT_PASSWORD)')
    .option('--password <password>', "root's password (default: from the cluster folder, or $KALAM_ROOT_PASSWORD)")
    .option('--json', 'print the result as one JSON line')
    .action(async (raw: RawBackup) => {
      const target = resolveTarget({
        ...(raw.cluster !== undefined ? { cluster: raw.cluster } : {}),
        ...(raw.dir !== undefined ? { dir: raw.dir } : {}),
        ...(raw.url !== undefined ? { url: raw.url } : {}),
        ...(raw.password !== undefined ? { password: raw.password } : {}),
        user: 'root',
      });
      const result = await takeBackup(target, raw.to, {
        group: (g, done, total) =>
          ctx.out.note(
            `backup: ${String(done).padStart(2)}/${total} ${g.name.padEnd(15)} index ${g.index} (read point ` +
              `${g.read_index}), ${(g.bytes / MB).toFixed(2)} MB`,
          ),
      });
      if (raw.json === true) {
        printJson(ctx.out, { file: result.file, bytes: result.bytes, manifest: result.manifest });
        return;
      }
      const m = result.manifest;
      ctx.out.line(`backup ${result.file}`);
      ctx.out.line(`  cluster ${m.cluster_id ?? '(standalone)'}, taken on node ${m.node_id}`);
      ctx.out.line(
        `  ${m.groups.length} groups, ${(result.bytes / MB).toFixed(2)} MB, ${m.started_at} → ${m.finished_at}`,
      );
    });

  program
    .command('restore')
    .summary('seed a new cluster folder from a backup')
    .description(
      'Make a NEW cluster folder DIR of N nodes from a backup (start it with `kalam cluster up --dir DIR --nodes N`): ' +
        'every node begins from the backed-up groups, with the new membership. The backup is verified whole ' +
        'first; a corrupt or truncated one is refused and nothing is written. Root keeps its backed-up password: ' +
        `give it with --password or $${ROOT_PASSWORD_ENV}. ` +
        'Exit codes: 0 done, 1 the backup is corrupt, 2 bad usage or DIR is not empty.',
    )
    .argument('<file>', 'the backup file')
    .requiredOption('--into <dir>', 'the new cluster folder (must not exist, or be empty)')
    .addOption(
      new Option('--nodes <n>', 'nodes of the new cluster')
        .argParser(integerIn(CLUSTER_LIMITS.nodesMin, CLUSTER_LIMITS.nodesMax))
        .default(3),
    )
    .addOption(
      new Option('--base-port <port>', 'first API port of the new cluster (default: a free block)').argParser(
        integerIn(CLUSTER_LIMITS.basePortMin, CLUSTER_LIMITS.basePortMax),
      ),
    )
    .option('--name <name>', 'the new cluster name (default: the folder name)')
    .option('--password <password>', `root's password in the backed-up cluster (default: $${ROOT_PASSWORD_ENV})`)
    .option('--json', 'print the result as one JSON line')
    .action(async (file: string, raw: RawRestore) => {
      const password = raw.password ?? process.env[ROOT_PASSWORD_ENV];
      if (password === undefined || password === '') {
        throw usageError(
          `restore keeps the backed-up users and passwords: give root's password with --password or $${ROOT_PASSWORD_ENV}`,
        );
      }
      const result = await restoreBackup({
        file,
        into: raw.into,
        nodes: raw.nodes,
        basePort: raw.basePort ?? (await findFreeBasePort(raw.nodes)),
        password,
        ...(raw.name !== undefined ? { name: raw.name } : {}),
        onProgress: (line) => ctx.out.note(`restore: ${line}`),
      });
      if (raw.json === true) {
        printJson(ctx.out, { dir: result.dir, cluster: result.cluster, backup: result.backup });
        return;
      }
      ctx.out.line(`restored ${result.backup.groups.length} groups into ${result.dir}`);
      const n = result.cluster.nodes.length;
      ctx.out.line(`  ${n} node${n === 1 ? '' : 's'}, cluster id ${result.cluster.clusterId}`);
      ctx.out.line(`  start it: kalam cluster up --dir ${result.dir} --nodes ${result.cluster.nodes.length}`);
    });
}
