/**
 * The real ClusterFactory of `kalam drill run`: `upCluster` from ../cluster/control.js, the supervisor. Tests
 * hand the runner an in-memory controller instead.
 */
import { upCluster } from '../cluster/control.js';
import type { ClusterFactory } from './runner.js';

export const realClusterFactory: ClusterFactory = (opts) => upCluster(opts);
