/**
 * Certificates for `kalam cluster up --tls` and the TLS tests: a self-signed CA and leaf certificates it signs, made
 * with node-forge (README "Library choices"). The keys are RSA 2048 made by Node's own crypto (forge would make them
 * in JavaScript); forge only builds and signs the certificates. For a production cluster make them with your own
 * PKI or openssl (README "TLS"); nothing here is needed to run a node.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

import forge from 'node-forge';

export interface Pem {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM private key (PKCS#8). */
  readonly key: string;
}

export interface CertOptions {
  /** Default: now minus one hour (clock skew between machines). */
  readonly notBefore?: Date;
  /** Default: notBefore plus `days`. */
  readonly notAfter?: Date;
  /** Default 825 (the longest lifetime clients commonly accept for a leaf; the CA gets 10 years). */
  readonly days?: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function newKeyPair(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  const publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { publicKey, privateKey: forgeKey, keyPem };
}

function validity(cert: forge.pki.Certificate, opts: CertOptions, defaultDays: number): void {
  const notBefore = opts.notBefore ?? new Date(Date.now() - HOUR_MS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.days ?? defaultDays) * DAY_MS);
  // A positive random serial (the high bit clear: DER integers are signed).
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  cert.serialNumber = serial.toString('hex');
}

/** A self-signed CA certificate named `commonName`. */
export function makeCa(commonName: string, opts: CertOptions = {}): Pem {
  const { publicKey, privateKey, keyPem } = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  validity(cert, opts, 3650);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

/**
 * A certificate for a node signed by `ca`, valid for each of `names` (host names and IP addresses, as SANs) both as
 * a TLS server and as a TLS client (mutual TLS between nodes).
 */
export function makeLeaf(ca: Pem, commonName: string, names: readonly string[], opts: CertOptions = {}): Pem {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const { publicKey, keyPem } = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  validity(cert, opts, 825);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [...new Set(names)].map((name) =>
    isIP(name) === 0 ? { type: 2, value: name } : { type: 7, ip: name },
  );
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}
