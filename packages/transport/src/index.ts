export { AssertionError } from './assert.js';
export { TransportError } from './errors.js';
export type { TransportErrorCode, TransportErrorOptions } from './errors.js';
export type { FaultRule } from './faults.js';
export { defaultLimits } from './limits.js';
export type { TransportLimits } from './limits.js';
export type { DroppedStats, TransportStats } from './stats.js';
export { Transport } from './transport.js';
export type { Envelope, LogFn, LogLevel, PeerAddress, PeerStatus, TransportOptions } from './types.js';
