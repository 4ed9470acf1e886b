/**
 * `kalam cluster up --tls` (README "TLS"): the cluster folder's tls/ holds a CA made for this cluster (ca.pem, and
 * ca.key to sign the certificates of nodes `node add` starts later) and one certificate per node, for 127.0.0.1,
 * ::1, localhost and the node's advertised host, usable as server and as client (mutual TLS between nodes). Keys are
 * mode 0600. The nodes' configs get [tls] with require_client_cert.
 *
 * The CLI's own trust: every command that reads a cluster folder with tls/ca.pem trusts that CA for its https
 * calls (trustClusterCa, from readManifest), and KALAM_CA_FILE names a CA to trust for `kalam sql --url https://…`
 * and the like. Node 20's global fetch takes no CA, so https calls go through @kalam/server's fetchTrusting.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { fetchTrusting } from '@kalam/server';
// A subpath, not the package index: `kalam serve` loads the index, and a node has no use for node-forge.
import { makeCa, makeLeaf } from '@kalam/server/certs';
import type { Pem } from '@kalam/server/certs';

import { CliError } from '../errors.js';
import { writeSecretFile } from './folder.js';

export const TLS_DIR = 'tls';
/** Every node certificate names these besides the node's own host, so any loopback form of the URL verifies. */
const LOOPBACK_NAMES = ['127.0.0.1', '::1', 'localhost'];

export const tlsFiles = {
  dir: (clusterDir: string) => join(clusterDir, TLS_DIR),
  caCert: (clusterDir: string) => join(clusterDir, TLS_DIR, 'ca.pem'),
  caKey: (clusterDir: string) => join(clusterDir, TLS_DIR, 'ca.key'),
  cert: (clusterDir: string, base: string) => join(clusterDir, TLS_DIR, `${base}.pem`),
  key: (clusterDir: string, base: string) => join(clusterDir, TLS_DIR, `${base}.key`),
};

/** Makes the cluster's CA (tls/ca.pem, tls/ca.key); the folder is new, so there is none yet. */
export function writeClusterCa(clusterDir: string, clusterName: string): void {
  mkdirSync(tlsFiles.dir(clusterDir), { recursive: true, mode: 0o700 });
  const ca = makeCa(`Kalam cluster ${clusterName} CA`);
  writeSecretFile(tlsFiles.caKey(clusterDir), ca.key);
  writeSecretFile(tlsFiles.caCert(clusterDir), ca.cert);
}

/**
 * Signs a certificate for one node (file names tls/BASE.pem and tls/BASE.key) valid for `host` and the loopback names,
 * and returns the [tls] section of its config.
 */
export function issueNodeCert(clusterDir: string, base: string, host: string): string {
  let ca: Pem;
  try {
    ca = {
      cert: readFileSync(tlsFiles.caCert(clusterDir), 'utf8'),
      key: readFileSync(tlsFiles.caKey(clusterDir), 'utf8'),
    };
  } catch (err) {
    throw new CliError('CLUSTER_FAILED', `cannot read the cluster CA in ${tlsFiles.dir(clusterDir)}: ${String(err)}`, {
      cause: err,
    });
  }
  const leaf = makeLeaf(ca, `kalam ${base}`, [...LOOPBACK_NAMES, host]);
  writeSecretFile(tlsFiles.key(clusterDir, base), leaf.key);
  writeSecretFile(tlsFiles.cert(clusterDir, base), leaf.cert);
  const q = (s: string): string => JSON.stringify(s);
  return [
    '# Made by `kalam cluster up --tls`: this node’s certificate, signed by the cluster CA; peers must present one too.',
    '[tls]',
    `cert_file = ${q(tlsFiles.cert(clusterDir, base))}`,
    `key_file = ${q(tlsFiles.key(clusterDir, base))}`,
    `ca_file = ${q(tlsFiles.caCert(clusterDir))}`,
    'require_client_cert = true',
    '',
  ].join('\n');
}

/** Whether the cluster folder was made with --tls. */
export function clusterHasTls(clusterDir: string): boolean {
  return existsSync(tlsFiles.caCert(clusterDir));
}

const trusted = new Map<string, string>();

/** Trusts the cluster folder's CA, when it has one, for this process's https calls. Idempotent. */
export function trustClusterCa(clusterDir: string): void {
  const file = tlsFiles.caCert(clusterDir);
  if (trusted.has(file) || !existsSync(file)) return;
  trusted.set(file, readFileSync(file, 'utf8'));
}

/** The CA certificates this process trusts beyond the system's (PEM, concatenated); undefined: none. */
export function trustedCa(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const extra = env['KALAM_CA_FILE'];
  if (extra !== undefined && extra !== '' && !trusted.has(extra)) {
    try {
      trusted.set(extra, readFileSync(extra, 'utf8'));
    } catch (err) {
      throw new CliError('USAGE', `KALAM_CA_FILE ${extra} cannot be read: ${String(err)}`, { cause: err });
    }
  }
  return trusted.size === 0 ? undefined : [...trusted.values()].join('\n');
}

/** fetch, trusting the CAs above for https URLs. */
export function cliFetch(url: string, init: RequestInit): Promise<Response> {
  return fetchTrusting(url, init, trustedCa());
}
