/**
 * TLS for a daemons() call. Zero-config: a tls+tcp:// URL without `tls` gets a fresh ECDSA key
 * and self-signed certificate (CN = the URL's host) made in the addon; the key never leaves
 * this process, the certificate goes into launch commands. CA-signed: `tls` is a PEM file
 * (certificate, chain, then key) or [certChain, key], with `pass` for an encrypted key.
 */
import { readFileSync } from 'node:fs';
import { TlsConfig, writeCert } from './nng';
import { isTlsUrl, parseUrl } from './url';

export interface HostTls {
  /** For the listener: certificate chain and key, PEM. */
  cert: string;
  key: string;
  pass?: string;
  /** What daemons verify the host with: the self-signed certificate, or the chain. */
  clientCert: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----\s*/g;

/** Splits PEM text into certificate blocks and the key block. */
function splitPem(text: string, what: string): { certs: string; key: string } {
  let certs = '';
  let key = '';
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (m[1]!.includes('PRIVATE KEY')) key = m[0];
    else if (m[1] === 'CERTIFICATE') certs += m[0];
  }
  if (!certs) throw new TypeError(`${what}: no CERTIFICATE block found`);
  return { certs, key };
}

/** The host side's TLS for url, or undefined for a plain URL. */
export function hostTls(url: string, tls: unknown, pass: string | undefined): HostTls | undefined {
  if (!isTlsUrl(url)) {
    if (tls !== undefined) throw new TypeError(`tls was given but url '${url}' is not tls+tcp:// or wss://`);
    return undefined;
  }
  if (tls === undefined) {
    const cn = parseUrl(url).host || 'localhost';
    const pair = writeCert({ cn });
    return { cert: pair.server[0], key: pair.server[1], clientCert: pair.client[0] };
  }
  let text: string;
  if (typeof tls === 'string') {
    text = tls.includes('-----BEGIN') ? tls : readPem(tls);
    const { certs, key } = splitPem(text, 'tls');
    if (!key) throw new TypeError('tls: the PEM file must hold the certificate, its chain, then the private key');
    return { cert: certs, key, pass, clientCert: certs };
  }
  if (Array.isArray(tls) && tls.length === 2 && typeof tls[0] === 'string' && typeof tls[1] === 'string') {
    const certs = splitPem(tls[0].includes('-----BEGIN') ? tls[0] : readPem(tls[0]), 'tls[0]').certs;
    const key = tls[1].includes('-----BEGIN') ? tls[1] : readPem(tls[1]);
    return { cert: certs, key, pass, clientCert: certs };
  }
  throw new TypeError('tls must be a PEM file path, PEM text, or [certificateChain, key]');
}

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new TypeError(`tls: cannot read '${file}' (${(e as Error).message})`);
  }
}

/** A server TlsConfig for the host's own listener (round-robin mode). */
export function serverConfig(t: HostTls): TlsConfig {
  return new TlsConfig({ mode: 'server', cert: t.cert, key: t.key, pass: t.pass });
}
