/**
 * Deterministic command encoding: canonical JSON (object keys sorted, no undefined, no NaN or infinities,
 * integers only as safe integers) in UTF-8. Two nodes that encode the same command get the same bytes, so
 * a command's bytes can be hashed and compared, and decoding then re-encoding is the identity.
 */
import { isCarriedNumber, numberProblem } from '@kalam/sql';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class CommandCodecError extends Error {
  override readonly name = 'CommandCodecError';
  readonly code = 'COMMAND_INVALID';
}

export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!isCarriedNumber(value)) throw new CommandCodecError(`${path}: ${numberProblem(value)}`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(',')}]`;
      const keys = Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      const parts = keys.map(
        (k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k], `${path}.${k}`)}`,
      );
      return `{${parts.join(',')}}`;
    }
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      break;
  }
  throw new CommandCodecError(`${path}: a ${typeof value} cannot be encoded`);
}

export function encodeCommand<T extends { readonly type: string }>(command: T): Uint8Array {
  return encoder.encode(canonicalJson(command));
}

/** Decodes bytes into a command; the caller's state machine checks the variant. */
export function decodeCommand<T extends { readonly type: string }>(bytes: Uint8Array): T {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new CommandCodecError('undecodable command', { cause: err });
  }
  if (value === null || typeof value !== 'object' || typeof (value as { type?: unknown }).type !== 'string') {
    throw new CommandCodecError('a command must be an object with a string type');
  }
  return value as T;
}
