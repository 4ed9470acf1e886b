/**
 * ClientSession: the client's side of exactly-once writes. The server remembers, per client id, the answer to each
 * sequence number it applied; the client numbers every logical write once (`begin`), sends that SAME number on every
 * retry, and tells the server with `acked` which answers it no longer needs: every seq ≤ acked has had its answer
 * delivered to the application (the lowest outstanding seq − 1), so the server may forget them.
 *
 * A client id is random, [A-Za-z0-9_-], at most 64 characters, and comes with the time it was made (`createdMs`), so
 * that a server that expired it can tell an expired session from a new one.
 */
import { CLIENT_LIMITS } from './limits.js';

/** What every session-carrying /v1/api/sql body holds under `client_session`. */
export interface SessionStamp {
  readonly client_id: string;
  readonly created_ms: number;
  readonly seq: number;
  readonly acked: number;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const ID_CHARS = 22; // 22 × 6 bits = 132 random bits

/** A fresh random client id: 22 characters of [A-Za-z0-9_-] from the platform's CSPRNG (Web Crypto, Node and browsers). */
export function newClientId(): string {
  const bytes = new Uint8Array(ID_CHARS);
  globalThis.crypto.getRandomValues(bytes);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b & 63];
  return id;
}

export function isValidClientId(id: string): boolean {
  return id.length > 0 && id.length <= CLIENT_LIMITS.clientIdCharsMax && /^[A-Za-z0-9_-]+$/.test(id);
}

export class ClientSession {
  private nextSeq = 1;
  /** Seqs begun and not finished: their answers have not been delivered yet. */
  private readonly outstanding = new Set<number>();

  constructor(
    readonly clientId: string = newClientId(),
    readonly createdMs: number = Date.now(),
  ) {
    if (!isValidClientId(clientId))
      throw new TypeError(`a client id is [A-Za-z0-9_-]{1,64}, not ${JSON.stringify(clientId)}`);
  }

  /** Numbers a new logical write. Every attempt of it sends stamp(seq). */
  begin(): number {
    const seq = this.nextSeq++;
    this.outstanding.add(seq);
    return seq;
  }

  /** The write `seq` is over (answered, or given up): its answer need not be kept by the server any more. */
  finish(seq: number): void {
    this.outstanding.delete(seq);
  }

  /** Every seq ≤ this has had its answer delivered (or was given up). */
  acked(): number {
    let lowest = this.nextSeq;
    for (const seq of this.outstanding) if (seq < lowest) lowest = seq;
    return lowest - 1;
  }

  stamp(seq: number): SessionStamp {
    return { client_id: this.clientId, created_ms: this.createdMs, seq, acked: this.acked() };
  }

  /** Writes begun and not finished. */
  get inFlight(): number {
    return this.outstanding.size;
  }
}
