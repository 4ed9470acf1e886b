/**
 * A least-recently-used cache whose bound is a count of rows, not of entries: each entry is put with its weight (the
 * rows it holds), and putting evicts the least recently used entries until the total is within the bound. An entry
 * heavier than the whole bound is not kept. Reading an entry makes it the most recently used.
 */
export class RowCache<V> {
  /** Insertion order of a Map is the recency order: the first key is the least recently used. */
  private readonly entries = new Map<string, { readonly value: V; readonly weight: number }>();
  private total = 0;

  constructor(readonly maxRows: number) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** The entry without touching its recency (a snapshot dump reads every file once and should not churn the cache). */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  set(key: string, value: V, weight: number): void {
    this.delete(key);
    if (weight > this.maxRows) return;
    this.entries.set(key, { value, weight });
    this.total += weight;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxRows) break;
      this.entries.delete(k);
      this.total -= e.weight;
    }
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    this.total -= e.weight;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  /** Rows held now (never above `maxRows`). */
  get rows(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }
}
