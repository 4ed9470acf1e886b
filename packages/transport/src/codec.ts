/**
 * Frames on the wire: binary CBOR (cbor-x), one WebSocket message each. An envelope batch is a bare CBOR array
 * of `{groupId, from, to, msg}`; every other frame is a map discriminated on `type`. The codec does no I/O and
 * never throws on input: decoding returns a result, and every shape is checked before anyone reads it.
 */
import type { NodeId } from '@kalam/raft';
import { Encoder } from 'cbor-x';
import { NONCE_BYTES } from './limits.js';
import type { Envelope } from './types.js';

/** Bytes of an HMAC-SHA256. */
export const HMAC_BYTES = 32;

/** Dialer → server, the first frame on every link. */
export interface HelloFrame {
  readonly type: 'hello';
  readonly clusterId: string;
  readonly nodeId: number;
  /** The dialer's clock, ms since the epoch. */
  readonly ts: number;
  readonly nonce: Uint8Array;
  readonly hmac: Uint8Array;
}

/** Server → dialer: proves the server holds the secret, over the dialer's nonce. */
export interface WelcomeFrame {
  readonly type: 'welcome';
  readonly nodeId: number;
  readonly hmac: Uint8Array;
}

export interface RequestFrame {
  readonly type: 'req';
  readonly id: number;
  readonly method: string;
  readonly body: unknown;
}

export type ErrorFields = Readonly<Record<string, string | number | boolean | null>>;

/** What travels back of a remote handler's error: its name, message and own primitive fields (code, …). */
export interface RemoteErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly fields: ErrorFields;
}

export type ResponseFrame =
  | { readonly type: 'res'; readonly id: number; readonly ok: true; readonly body: unknown }
  | { readonly type: 'res'; readonly id: number; readonly ok: false; readonly error: RemoteErrorInfo };

/** A decoded envelope batch: its items are checked one by one with `parseEnvelope`. */
export interface BatchFrame {
  readonly type: 'batch';
  readonly items: readonly unknown[];
}

export type Frame = BatchFrame | HelloFrame | WelcomeFrame | RequestFrame | ResponseFrame;

export type DecodeResult =
  { readonly ok: true; readonly frame: Frame } | { readonly ok: false; readonly reason: string };

export type EncodeResult =
  { readonly ok: true; readonly bytes: Uint8Array } | { readonly ok: false; readonly error: unknown };

/**
 * The one shared encoder. Plain CBOR maps (no records, no structured clone) so that any CBOR peer can read it;
 * `copyBuffers` so a decoded Uint8Array does not pin the whole received frame in memory; tag 64 (the default) so
 * Uint8Array payloads come back as Uint8Array.
 */
const encoder = new Encoder({ structuredClone: false, useRecords: false, mapsAsObjects: true, copyBuffers: true });

export function encodeValue(value: unknown): EncodeResult {
  try {
    return { ok: true, bytes: encoder.encode(value) };
  } catch (error) {
    return { ok: false, error };
  }
}

export function decodeFrame(bytes: Uint8Array): DecodeResult {
  let value: unknown;
  try {
    value = encoder.decode(bytes);
  } catch (error) {
    // Malformed CBOR, or nesting deep enough to overflow the stack (a RangeError): either way, not a frame.
    return { ok: false, reason: error instanceof Error ? `cbor: ${error.message}` : 'cbor: undecodable' };
  }
  return parseFrame(value);
}

export function parseFrame(value: unknown): DecodeResult {
  if (Array.isArray(value)) return { ok: true, frame: { type: 'batch', items: value } };
  if (!isRecord(value)) return { ok: false, reason: 'frame is neither an array nor a map' };
  const frame = parseTyped(value);
  return frame === undefined ? { ok: false, reason: `bad ${describeType(value['type'])} frame` } : { ok: true, frame };
}

function parseTyped(value: Record<string, unknown>): Frame | undefined {
  switch (value['type']) {
    case 'hello':
      return parseHello(value);
    case 'welcome':
      return parseWelcome(value);
    case 'req':
      return parseRequest(value);
    case 'res':
      return parseResponse(value);
    default:
      return undefined;
  }
}

function parseHello(v: Record<string, unknown>): HelloFrame | undefined {
  const { clusterId, nodeId, ts, nonce, hmac } = v;
  if (typeof clusterId !== 'string' || !isNodeIdNumber(nodeId) || !Number.isSafeInteger(ts)) return undefined;
  if (!isBytes(nonce, NONCE_BYTES) || !isBytes(hmac, HMAC_BYTES)) return undefined;
  return { type: 'hello', clusterId, nodeId, ts: ts as number, nonce, hmac };
}

function parseWelcome(v: Record<string, unknown>): WelcomeFrame | undefined {
  const { nodeId, hmac } = v;
  if (!isNodeIdNumber(nodeId) || !isBytes(hmac, HMAC_BYTES)) return undefined;
  return { type: 'welcome', nodeId, hmac };
}

function parseRequest(v: Record<string, unknown>): RequestFrame | undefined {
  const { id, method, body } = v;
  if (!isRequestId(id) || typeof method !== 'string') return undefined;
  return { type: 'req', id, method, body };
}

function parseResponse(v: Record<string, unknown>): ResponseFrame | undefined {
  const { id, ok } = v;
  if (!isRequestId(id)) return undefined;
  if (ok === true) return { type: 'res', id, ok: true, body: v['body'] };
  if (ok !== false) return undefined;
  const error = parseErrorInfo(v['error']);
  return error === undefined ? undefined : { type: 'res', id, ok: false, error };
}

function parseErrorInfo(value: unknown): RemoteErrorInfo | undefined {
  if (!isRecord(value)) return undefined;
  const { name, message, fields } = value;
  if (typeof name !== 'string' || typeof message !== 'string' || !isRecord(fields)) return undefined;
  return { name, message, fields: primitiveFields(fields) };
}

/**
 * One item of a batch, checked: a group id, `from` equal to the authenticated sender (no spoofing), `to` equal to
 * this node, and a map for `msg`. What `msg` holds is the receiver's to check.
 */
export function parseEnvelope(item: unknown, sender: NodeId, self: NodeId): Envelope | undefined {
  if (!isRecord(item)) return undefined;
  const { groupId, from, to, msg } = item;
  if (typeof groupId !== 'number' || !Number.isSafeInteger(groupId) || groupId < 0) return undefined;
  if (from !== sender || to !== self || !isRecord(msg)) return undefined;
  return { groupId, from: sender, to: self, msg };
}

/** Whether an envelope goes on the bulk lane (snapshot chunks), so that it cannot starve heartbeats. */
export function isBulk(env: Envelope): boolean {
  const msg = env.msg;
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'MsgSnap';
}

export type BatchDrop = {
  readonly env: Envelope;
  readonly reason: 'unencodable' | 'oversized';
  readonly detail: unknown;
};

export interface EncodedBatch {
  readonly bytes: Uint8Array;
  /** Envelopes in this frame. */
  readonly count: number;
}

/**
 * Encodes `envelopes`, in order, into frames of about FRAME_PAYLOAD_BYTES_TARGET of payload (or `maxBytes`, when
 * smaller); a run that still encodes over `maxBytes` is halved recursively. An envelope that cannot be encoded, or
 * is too big alone, is reported to `onDrop` and left out.
 */
export function encodeBatches(
  envelopes: readonly Envelope[],
  maxBytes: number,
  onDrop: (drop: BatchDrop) => void,
): EncodedBatch[] {
  const groups = groupByPayload(envelopes, Math.min(maxBytes, FRAME_PAYLOAD_BYTES_TARGET));
  if (groups.length === 1) return encodeHalving(envelopes, maxBytes, onDrop);
  return groups.flatMap((group) => encodeHalving(group, maxBytes, onDrop));
}

/**
 * The payload bytes a frame is filled to before the next envelope starts another frame. A catch-up sends up to the
 * core's 8 MiB in flight to a follower in one turn: as one frame, cbor-x grows its shared buffer to 2.5 times that
 * (a 20 MB allocation, kept as the encoder's target and reallocated whole each time it fills) and the receiver
 * decodes 8 MiB at once. Frames of about 1 MiB keep both sides' buffers near the size of one entry.
 */
export const FRAME_PAYLOAD_BYTES_TARGET = 1024 * 1024;

/** Bytes of an envelope's byte payloads (a MsgApp's entries' data, a chunk's data) plus a fixed allowance. */
function payloadBytes(env: Envelope): number {
  const msg = env.msg as { entries?: unknown; data?: unknown } | null;
  let bytes = 64;
  if (typeof msg !== 'object' || msg === null) return bytes;
  if (msg.data instanceof Uint8Array) bytes += msg.data.byteLength;
  if (Array.isArray(msg.entries)) {
    for (const entry of msg.entries as { data?: unknown }[]) {
      bytes += 32 + (entry?.data instanceof Uint8Array ? entry.data.byteLength : 0);
    }
  }
  return bytes;
}

/** In order, the envelopes cut into runs of at most `target` payload bytes (an envelope larger alone in its run). */
function groupByPayload(envelopes: readonly Envelope[], target: number): Envelope[][] {
  const groups: Envelope[][] = [];
  let current: Envelope[] = [];
  let bytes = 0;
  for (const env of envelopes) {
    const size = payloadBytes(env);
    if (current.length > 0 && bytes + size > target) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(env);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

function encodeHalving(
  envelopes: readonly Envelope[],
  maxBytes: number,
  onDrop: (drop: BatchDrop) => void,
): EncodedBatch[] {
  if (envelopes.length === 0) return [];
  const whole = encodeValue(envelopes);
  if (whole.ok && whole.bytes.length <= maxBytes) return [{ bytes: whole.bytes, count: envelopes.length }];
  if (envelopes.length === 1) {
    const env = envelopes[0] as Envelope;
    if (whole.ok) onDrop({ env, reason: 'oversized', detail: whole.bytes.length });
    else onDrop({ env, reason: 'unencodable', detail: whole.error });
    return [];
  }
  const middle = Math.ceil(envelopes.length / 2);
  return [
    ...encodeHalving(envelopes.slice(0, middle), maxBytes, onDrop),
    ...encodeHalving(envelopes.slice(middle), maxBytes, onDrop),
  ];
}

/** The error info sent back for whatever a request handler rejected with. */
export function errorInfo(error: unknown): RemoteErrorInfo {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const own: Record<string, unknown> = {};
  for (const key of Object.keys(error)) own[key] = (error as unknown as Record<string, unknown>)[key];
  return { name: error.name, message: error.message, fields: primitiveFields(own) };
}

/** Fields carried with a remote error: primitives only, at most this many. */
const ERROR_FIELDS_MAX = 32;

function primitiveFields(record: Record<string, unknown>): ErrorFields {
  const out: Record<string, string | number | boolean | null> = {};
  let count = 0;
  for (const [key, value] of Object.entries(record)) {
    if (count >= ERROR_FIELDS_MAX || key === 'name' || key === 'message' || key === 'stack') continue;
    if (value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') {
      out[key] = value;
      count += 1;
    }
  }
  return out;
}

/** A plain CBOR map as cbor-x decodes it (not an array, a byte string, a Tag, a Set, …). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

function isNodeIdNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function isRequestId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function describeType(type: unknown): string {
  return typeof type === 'string' ? JSON.stringify(type.slice(0, 32)) : 'untyped';
}
