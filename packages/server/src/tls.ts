/**
 * [tls] (README "TLS"): the node's certificate, its key and the CA it trusts, all PEM. With them the HTTP API serves
 * HTTPS, the Raft transport runs over TLS (wss) and verifies every peer's certificate against ca_file, and with
 * require_client_cert a dialing peer must present a certificate from that CA too (mutual TLS). The cluster-secret
 * HMAC handshake runs on top unchanged: TLS proves a certificate from our CA, the handshake proves a member.
 *
 * The files are read and checked once, when the config is parsed, so that a wrong path, a key that belongs to
 * another certificate or a certificate the cluster's CA did not sign is one clear config error at start rather than
 * every peer's handshake failing later.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Duplex } from 'node:stream';

/** The PEM texts; `key` is secret (never logged: describeConfig names only the files). */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export interface TlsSettings extends TlsMaterial {
  /** Absolute paths, as resolved against the config file's folder. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** Mutual TLS between nodes: the Raft endpoint refuses a peer that presents no certificate signed by ca_file. */
  readonly requireClientCert: boolean;
}

export interface TlsFileProblem {
  readonly key: 'tls.cert_file' | 'tls.key_file' | 'tls.ca_file';
  readonly message: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, in order; [] when it holds none. */
export function pemCertificates(text: string): X509Certificate[] {
  return (text.match(PEM_CERT) ?? []).map((pem) => new X509Certificate(pem));
}

/** Reads and checks the three files (see the module comment); every problem names its key. */
export function readTlsFiles(files: {
  certFile: string;
  keyFile: string;
  caFile: string;
}): { ok: true; material: TlsMaterial } | { ok: false; problems: TlsFileProblem[] } {
  const problems: TlsFileProblem[] = [];
  const read = (key: TlsFileProblem['key'], file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      problems.push({
        key,
        message: `${key} ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      });
      return undefined;
    }
  };
  const certs = (key: 'tls.cert_file' | 'tls.ca_file', file: string, text: string | undefined): X509Certificate[] => {
    if (text === undefined) return [];
    try {
      const found = pemCertificates(text);
      if (found.length > 0) return found;
    } catch (err) {
      problems.push({ key, message: `${key} ${file} holds a bad certificate: ${(err as Error).message}` });
      return [];
    }
    problems.push({ key, message: `${key} ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` });
    return [];
  };
  const cert = read('tls.cert_file', files.certFile);
  const key = read('tls.key_file', files.keyFile);
  const ca = read('tls.ca_file', files.caFile);
  const chain = certs('tls.cert_file', files.certFile, cert);
  const authorities = certs('tls.ca_file', files.caFile, ca);
  let privateKey: ReturnType<typeof createPrivateKey> | undefined;
  if (key !== undefined) {
    try {
      privateKey = createPrivateKey(key);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      problems.push({
        key: 'tls.key_file',
        message: `tls.key_file ${files.keyFile} is not a PEM private key: ${detail}`,
      });
    }
  }
  const leaf = chain[0];
  if (leaf !== undefined && privateKey !== undefined && !leaf.checkPrivateKey(privateKey)) {
    problems.push({
      key: 'tls.key_file',
      message: `tls.key_file ${files.keyFile} is not the key of the certificate in tls.cert_file ${files.certFile}`,
    });
  }
  if (leaf !== undefined && Date.parse(leaf.validTo) < Date.now()) {
    problems.push({ key: 'tls.cert_file', message: `tls.cert_file ${files.certFile} expired on ${leaf.validTo}` });
  }
  // Peers verify this node's certificate against their ca_file, the same file: one it did not sign (directly or
  // through an intermediate sent along in cert_file) would be refused by every peer.
  if (leaf !== undefined && authorities.length > 0) {
    const issuers = [...authorities, ...chain.slice(1)];
    let current = leaf;
    const seen = new Set<X509Certificate>();
    for (;;) {
      const issuer = issuers.find((c) => !seen.has(c) && current.checkIssued(c) && current.verify(c.publicKey));
      if (issuer === undefined || authorities.includes(issuer)) {
        if (issuer === undefined) {
          problems.push({
            key: 'tls.cert_file',
            message:
              `tls.cert_file ${files.certFile} (subject ${oneLine(leaf.subject)}) is not signed by the CA in ` +
              `tls.ca_file ${files.caFile}; peers that trust ca_file would refuse it`,
          });
        }
        break;
      }
      seen.add(issuer);
      current = issuer;
    }
  }
  if (problems.length > 0 || cert === undefined || key === undefined || ca === undefined)
    return { ok: false, problems };
  return { ok: true, material: { cert, key, ca } };
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

/**
 * The node's own HTTP calls to a member (join): `fetch`'s shape, with `trust` — a CA (PEM), or a CA with this node's
 * certificate and key to present (a join pointed at a member's RPC port, which may require a client certificate) —
 * used for https URLs. Node 20's global fetch cannot be given a CA without the undici package, so an https URL goes
 * through node:https and its answer is returned as a Response as soon as its headers arrive, the body streamed (the
 * CLI reads whole group snapshots through it for `kalam backup`: memory must not grow with them). Without `trust`,
 * or for http, it is fetch itself.
 */
export async function fetchTrusting(
  url: string,
  init: RequestInit,
  trust: string | { ca: string; cert?: string; key?: string } | undefined,
): Promise<Response> {
  if (trust === undefined || !url.startsWith('https:')) return fetch(url, init);
  const tls = typeof trust === 'string' ? { ca: trust } : trust;
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== 'string') {
    throw new TypeError('fetchTrusting sends string bodies only');
  }
  const headers = new Headers(init.headers);
  if (body !== undefined && body !== null) headers.set('content-length', String(Buffer.byteLength(body)));
  return new Promise<Response>((resolve, reject) => {
    const signal = init.signal ?? undefined;
    const call = httpsRequest(
      url,
      { method: init.method ?? 'GET', headers: Object.fromEntries(headers), ...tls, agent: false, signal },
      (res) => {
        const status = res.statusCode ?? 502;
        const out = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) out.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const nullBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD';
        if (nullBody) res.resume();
        // A socket error or an abort mid-body errors the stream, so the reader sees it as with fetch.
        const stream = nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        resolve(new Response(stream, { status, headers: out }));
      },
    );
    // As fetch: an aborted call rejects with the signal's reason (a TimeoutError for AbortSignal.timeout), any other
    // failure with TypeError("fetch failed") whose cause carries the socket's code (ECONNREFUSED, a certificate's).
    call.on('error', (err) =>
      reject(
        signal?.aborted === true && signal.reason instanceof Error
          ? signal.reason
          : new TypeError(`fetch failed: ${err.message}`, { cause: err }),
      ),
    );
    call.end(body ?? undefined);
  });
}

const PLAIN_HTTP_ANSWER = 'this port serves HTTPS only: use https://\n';

/**
 * A plain HTTP request to an HTTPS port fails the TLS handshake, and the client would see only a closed
 * connection. When OpenSSL recognised an HTTP request (ERR_SSL_HTTP_REQUEST), answer it in plain text with a 400
 * that says to use https. The raw socket under the TLS one is Node's undocumented `_parent`; where it is missing the
 * connection is just closed, as without this.
 */
export function answerPlainHttp(error: Error & { code?: unknown }, socket: Duplex): void {
  const raw = (socket as { _parent?: unknown })._parent;
  if (error.code === 'ERR_SSL_HTTP_REQUEST' && raw instanceof Socket && raw.writable) {
    raw.end(
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(PLAIN_HTTP_ANSWER)}\r\n\r\n${PLAIN_HTTP_ANSWER}`,
    );
    return;
  }
  socket.destroy();
}
