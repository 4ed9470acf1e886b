/**
 * A fixed-size bitset of linearized operations with an incrementally kept Zobrist hash (an XOR of one
 * random 32-bit word per set bit), so the search cache can look a state up in O(1) before paying for an
 * O(n/32) comparison.
 */
export class Bitset {
  private constructor(
    readonly words: Uint32Array,
    private readonly keys: Uint32Array,
    private hashValue: number,
  ) {}

  static create(size: number): Bitset {
    const keys = new Uint32Array(size);
    // splitmix32 from a fixed seed: deterministic, well spread.
    let s = 0x2545f491;
    for (let i = 0; i < size; i++) {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      keys[i] = (z ^ (z >>> 16)) >>> 0;
    }
    return new Bitset(new Uint32Array(Math.ceil(size / 32)), keys, 0);
  }

  get hash(): number {
    return this.hashValue;
  }

  /** Flips bit `i` (set when clear, clear when set); the search only ever sets clear bits and clears set ones. */
  flip(i: number): void {
    const w = i >>> 5;
    this.words[w] = (this.words[w] ?? 0) ^ (1 << (i & 31));
    this.hashValue = (this.hashValue ^ (this.keys[i] ?? 0)) >>> 0;
  }

  /** A frozen copy of the words, for the cache. */
  snapshot(): Uint32Array {
    return this.words.slice();
  }

  equals(words: Uint32Array): boolean {
    for (let i = 0; i < words.length; i++) {
      if (words[i] !== this.words[i]) return false;
    }
    return true;
  }
}
