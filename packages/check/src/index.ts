export { AssertionError, assert, assertNever } from './assert.js';
export { CheckError, HistoryFormatError } from './errors.js';
export type { CheckErrorCode } from './errors.js';
export { HistoryRecorder, OpKind, Outcome, PENDING_REASON, isValue } from './history.js';
export type {
  CasInput,
  CasOperation,
  CasOutput,
  ClientId,
  OkArgs,
  OpHandle,
  OpTypes,
  Operation,
  ReadOperation,
  Value,
  WriteOperation,
} from './history.js';
export { checkLinearizability, describeOperation, isSoleSource } from './linearizability.js';
export type { CheckOptions, CheckResult, KeyFailure, UndecidedKey, Verdict } from './linearizability.js';
export { limits } from './limits.js';
export { ILLEGAL, stepRegister } from './register.js';
