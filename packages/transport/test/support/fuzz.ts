/**
 * Frame generators for the fuzz tests, driven by one seeded PRNG so a failure replays from its seed:
 * random bytes, valid frames truncated or bit-flipped, valid CBOR of the wrong shapes (including cbor-x's own
 * tags and hostile length headers), and oversized frames.
 */
import { encodeValue } from '../../src/codec.js';

/** mulberry32: small, fast, good enough to drive a fuzzer. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let x = this.state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
}

function encode(value: unknown): Uint8Array {
  const encoded = encodeValue(value);
  if (!encoded.ok) throw new Error('fuzz seed value not encodable');
  return encoded.bytes;
}

const KEYS = [
  'type',
  'groupId',
  'from',
  'to',
  'msg',
  'id',
  'method',
  'body',
  'ok',
  'error',
  'nonce',
  'hmac',
  '__proto__',
  'constructor',
  '',
];
const TYPES = ['hello', 'welcome', 'req', 'res', 'batch', 'MsgApp', 'MsgSnap', 'MsgHeartbeat', 42, null];

/** A random CBOR-encodable value, up to `depth` levels of nesting. */
export function randomValue(rng: Rng, depth: number): unknown {
  const scalars: (() => unknown)[] = [
    () => rng.int(1000) - 500,
    () => rng.next() * 1e300,
    () => Number.NaN,
    () => -Infinity,
    () => 2 ** 53 + rng.int(1000),
    () => BigInt(rng.int(1 << 30)) * 1_000_000_000n,
    () => 'x'.repeat(rng.int(40)),
    () => rng.pick(TYPES),
    () => rng.next() < 0.5,
    () => null,
    () => undefined,
    () => rng.bytes(rng.int(64)),
  ];
  if (depth <= 0 || rng.next() < 0.4) return rng.pick(scalars)();
  if (rng.next() < 0.5) return Array.from({ length: rng.int(6) }, () => randomValue(rng, depth - 1));
  const record: Record<string, unknown> = {};
  // defineProperty, so that '__proto__' becomes an own key (as it would arrive on the wire), not a prototype.
  for (let i = rng.int(6); i > 0; i--) {
    Object.defineProperty(record, rng.pick(KEYS), {
      value: randomValue(rng, depth - 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return record;
}

/** Well-formed CBOR whose shape is wrong in a way the codec must notice. */
export function wrongShape(rng: Rng, attacker: number, self: number): Uint8Array {
  const shapes: (() => unknown)[] = [
    () => ({ type: 'req' }),
    () => ({ type: 'req', id: -1, method: 'echo', body: null }),
    () => ({ type: 'req', id: 1.5, method: 'echo' }),
    () => ({ type: 'req', id: rng.int(1000) + 1, method: 42 }),
    () => ({ type: 'res', id: rng.int(10) + 1, ok: 'yes' }),
    () => ({ type: 'res', id: rng.int(10) + 1, ok: false, error: 'boom' }),
    () => ({
      type: 'hello',
      clusterId: 7,
      nodeId: attacker,
      ts: Date.now(),
      nonce: rng.bytes(16),
      hmac: rng.bytes(32),
    }),
    () => ({
      type: 'hello',
      clusterId: 'test-cluster',
      nodeId: attacker,
      ts: Date.now(),
      nonce: rng.bytes(15),
      hmac: rng.bytes(32),
    }),
    () => ({ type: 'welcome', nodeId: self, hmac: rng.bytes(31) }),
    () => ({ type: rng.pick(TYPES), ...(randomValue(rng, 2) as object) }),
    () => [{ groupId: -1, from: attacker, to: self, msg: { type: 'MsgApp' } }],
    () => [{ groupId: 1.5, from: attacker, to: self, msg: { type: 'MsgApp' } }],
    () => [{ groupId: 1, from: self === 1 ? 2 : 1, to: self, msg: { type: 'MsgApp' } }], // spoofed sender
    () => [{ groupId: 1, from: attacker, to: attacker, msg: { type: 'MsgApp' } }], // wrong addressee
    () => [{ groupId: 1, from: attacker, to: self, msg: 'MsgApp' }],
    () => [{ groupId: 1, from: attacker, to: self, msg: [1, 2, 3] }],
    () => [null, 1, 'x', rng.bytes(4)],
    () => new Set([1, 2]),
    () =>
      new Map<unknown, unknown>([
        [1, 2],
        [{}, 'x'],
      ]),
    () => new Date(),
    () => /a+b/g,
    () => new Error('from the wire'),
    () => randomValue(rng, 4),
  ];
  return encode(rng.pick(shapes)());
}

/** Raw byte strings that exercise the decoder's defences: deep nesting, lying length headers, odd tags. */
export function hostileBytes(rng: Rng): Uint8Array {
  const cases: (() => Uint8Array)[] = [
    // 50,000 nested one-element arrays: deep enough to overflow the stack in a recursive decoder.
    () => Uint8Array.from([...new Array<number>(50_000).fill(0x81), 0x00]),
    // Arrays and maps claiming 2^64-1, 2^32 and 2^31 elements with no bytes behind them.
    () => Uint8Array.from([0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]),
    () => Uint8Array.from([0x9a, 0xff, 0xff, 0xff, 0xff, 0x01]),
    () => Uint8Array.from([0xba, 0x80, 0x00, 0x00, 0x00, 0x01, 0x02]),
    // A byte string and a text string claiming 4 GiB.
    () => Uint8Array.from([0x5a, 0xff, 0xff, 0xff, 0xff, 0x00]),
    () => Uint8Array.from([0x7a, 0xff, 0xff, 0xff, 0xff, 0x61]),
    // Indefinite-length containers that never end.
    () => Uint8Array.from([0x9f, 0x01, 0x02, 0x03]),
    () => Uint8Array.from([0xbf, 0x61, 0x61]),
    // cbor-x extension tags: record definition (105), generic object (27), packed table (51), typed arrays (64+).
    () => Uint8Array.from([0xd8, 0x69, 0x83, 0x18, 0x40, 0x81, 0x61, 0x61, 0x01]),
    () => Uint8Array.from([0xd8, 0x1b, 0x83, 0x66, ...Buffer.from('RegExp'), 0x62, 0x28, 0x28, 0x61, 0x67]),
    () => Uint8Array.from([0xd8, 0x33, 0x84, 0x80, 0x80, 0x80, 0x00]),
    () => Uint8Array.from([0xd8, 0x46, 0x43, 0x01, 0x02, 0x03]),
    () => Uint8Array.from([0xd9, 0xff, 0xff, 0x00]),
    // Unassigned simple values, break codes and reserved additional info.
    () => Uint8Array.from([0xff]),
    () => Uint8Array.from([0xfc]),
    () => Uint8Array.from([0x1c]),
    () => new Uint8Array(0),
    () => rng.bytes(1 + rng.int(8)),
  ];
  return rng.pick(cases)();
}

/** Truncates, bit-flips, splices or duplicates one of `seeds`. */
export function mutate(rng: Rng, seeds: readonly Uint8Array[]): Uint8Array {
  const seed = rng.pick(seeds);
  switch (rng.int(5)) {
    case 0:
      return seed.slice(0, rng.int(seed.length));
    case 1: {
      const out = seed.slice();
      for (let flips = 1 + rng.int(8); flips > 0 && out.length > 0; flips--) {
        const at = rng.int(out.length);
        out[at] = (out[at] ?? 0) ^ (1 << rng.int(8));
      }
      return out;
    }
    case 2: {
      const other = rng.pick(seeds);
      return Uint8Array.from([...seed.slice(0, rng.int(seed.length + 1)), ...other.slice(rng.int(other.length + 1))]);
    }
    case 3: {
      const out = seed.slice();
      const at = rng.int(out.length + 1);
      return Uint8Array.from([...out.slice(0, at), ...rng.bytes(1 + rng.int(8)), ...out.slice(at)]);
    }
    default:
      return Uint8Array.from([...seed, ...seed]);
  }
}

export type FuzzKind = 'random' | 'mutated' | 'shape' | 'hostile' | 'text' | 'oversized';

export interface FuzzFrame {
  readonly kind: FuzzKind;
  readonly data: Uint8Array | string;
}

/** One fuzz frame; `oversizedBytes` is just over the target's maxPayloadBytes. */
export function fuzzFrame(
  rng: Rng,
  seeds: readonly Uint8Array[],
  ctx: { attacker: number; self: number; oversizedBytes: number; oversizedShare: number },
): FuzzFrame {
  const roll = rng.next();
  if (roll < ctx.oversizedShare) return { kind: 'oversized', data: rng.bytes(ctx.oversizedBytes) };
  if (roll < 0.25) return { kind: 'random', data: rng.bytes(rng.int(rng.next() < 0.9 ? 256 : 16_384)) };
  if (roll < 0.6) return { kind: 'mutated', data: mutate(rng, seeds) };
  if (roll < 0.85) return { kind: 'shape', data: wrongShape(rng, ctx.attacker, ctx.self) };
  if (roll < 0.97) return { kind: 'hostile', data: hostileBytes(rng) };
  return { kind: 'text', data: Buffer.from(rng.bytes(rng.int(64))).toString('latin1') };
}
