/**
 * @kalam/server: the node process (DESIGN.md §8). So far: its configuration.
 */
export {
  configDefaults,
  configLimits,
  describeConfig,
  formatHostPort,
  loadConfig,
  parseConfig,
  parseHostPort,
} from './config.js';
export type {
  AuthSettings,
  ClusterNodeConfig,
  ClusterSettings,
  HostPort,
  MemberSettings,
  NodeConfig,
  ParseConfigOptions,
  RaftSettings,
  ServerSettings,
  ShardingSettings,
  StandaloneNodeConfig,
} from './config.js';
export { ConfigError, ServerError } from './errors.js';
export type { ConfigProblem, ServerErrorCode } from './errors.js';
