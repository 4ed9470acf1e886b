/**
 * The real ClusterFactory of `kalam drill run`: `upCluster` from ../cluster/control.js, the supervisor.
 *
 * The supervisor is built on another branch. Until it is merged, this module loads it at run time and, when it is
 * absent, answers with a CliError NOT_BUILT (exit 2) naming what is missing; nothing else of the drill depends on
 * it, so the runner is tested with an in-memory controller. Once control.ts is in the tree this should become a
 * static `import { upCluster } from '../cluster/control.js'` (the specifier is a variable below only so that the
 * build does not need the file).
 */
import type { ClusterController } from '../cluster/types.js';
import { CliError } from '../errors.js';
import type { ClusterFactory, UpClusterOptions } from './runner.js';

const CONTROL_MODULE = '../cluster/control.js';

type UpCluster = (opts: UpClusterOptions) => Promise<ClusterController>;

export const realClusterFactory: ClusterFactory = async (opts) => {
  let mod: { upCluster?: unknown };
  try {
    mod = (await import(CONTROL_MODULE)) as { upCluster?: unknown };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND') {
      throw new CliError('NOT_BUILT', 'the cluster supervisor is not built (no packages/cli/src/cluster/control.ts)');
    }
    throw err;
  }
  if (typeof mod.upCluster !== 'function') {
    throw new CliError('NOT_BUILT', 'the cluster supervisor is not built (control.js exports no upCluster)');
  }
  return (mod.upCluster as UpCluster)(opts);
};
