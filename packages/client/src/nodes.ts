/**
 * NodePool: which of the client's nodes to try, in order. A node that failed (no connection, a timeout) is marked down
 * and tried only after the nodes that are up, until `downMs` has passed; then the next call probes it again like any
 * other (a success marks it up). The node the server names in `X-Kalam-Shard-Leader` (the leader of the signed-in
 * user's shard) goes first while it is up: a statement sent there needs no forward. Otherwise the last node that
 * answered goes first, so that a client sticks to one node while it works.
 */
export interface NodeState {
  readonly url: string;
  readonly up: boolean;
  /** When it was last marked down (ms since the epoch), or null. */
  readonly downSinceMs: number | null;
}

export class NodePool {
  readonly urls: readonly string[];
  private readonly downUntilMs = new Map<string, number>();
  private readonly downSinceMs = new Map<string, number>();
  private preferred: string | null = null;
  private lastGood: string | null = null;

  constructor(
    urls: readonly string[],
    private readonly downMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (urls.length === 0) throw new TypeError('createClient: `nodes` must list at least one node URL');
    this.urls = [...new Set(urls.map(normalizeUrl))];
  }

  /** Every node once, best first: up before down, the shard leader, then the last that answered, then list order. */
  order(): [string, ...string[]] {
    const nowMs = this.now();
    const rank = (url: string): number => {
      if (this.isDown(url, nowMs)) return 3;
      if (url === this.preferred) return 0;
      if (url === this.lastGood) return 1;
      return 2;
    };
    // Among down nodes, the one that comes back soonest first.
    const downUntil = (url: string): number => this.downUntilMs.get(url) ?? 0;
    return [...this.urls]
      .map((url, index) => ({ url, index }))
      .sort((a, b) => rank(a.url) - rank(b.url) || downUntil(a.url) - downUntil(b.url) || a.index - b.index)
      .map((e) => e.url) as [string, ...string[]]; // urls is not empty (constructor)
  }

  markUp(url: string): void {
    this.downUntilMs.delete(url);
    this.downSinceMs.delete(url);
    this.lastGood = url;
  }

  markDown(url: string): void {
    const nowMs = this.now();
    this.downUntilMs.set(url, nowMs + this.downMs);
    if (!this.downSinceMs.has(url)) this.downSinceMs.set(url, nowMs);
    if (this.lastGood === url) this.lastGood = null;
  }

  /** The server named `url` as the shard leader: prefer it, when it is one of the client's nodes. */
  setPreferred(url: string | null): void {
    if (url === null) return;
    const normal = normalizeUrl(url);
    if (this.urls.includes(normal)) this.preferred = normal;
  }

  get preferredNode(): string | null {
    return this.preferred;
  }

  states(): NodeState[] {
    const nowMs = this.now();
    return this.urls.map((url) => ({
      url,
      up: !this.isDown(url, nowMs),
      downSinceMs: this.downSinceMs.get(url) ?? null,
    }));
  }

  private isDown(url: string, nowMs: number): boolean {
    const until = this.downUntilMs.get(url);
    return until !== undefined && until > nowMs;
  }
}

/** `http://h:p/` → `http://h:p`: one spelling per node, so the leader header matches the configured URL. */
export function normalizeUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError(`a node URL is http:// or https://, not ${JSON.stringify(url)}`);
  }
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}
