export { SqlEngine } from './engine.js';
export type { ExecuteOptions, SqlEngineOptions } from './engine.js';
export { KalamError, toKalamError } from './errors.js';
export type { KalamErrorCode } from './errors.js';
export { SQL_ENGINE_LIMITS } from './limits.js';
export type { EvalLimits } from './limits.js';
export { hashPassword, verifyPassword } from './password.js';
export { SeqGenerator } from './sequence.js';
export type { ClusterView, ColumnInfo, QueryResult, Session } from './types.js';
