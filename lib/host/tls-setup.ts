/**
 * TLS for a daemons() call. Zero-config: a tls+tcp:// URL without `tls` gets a fresh ECDSA key
 * and self-signed certificate (CN = the URL's host) made in the addon; the key never leaves
 * this process, the certificate goes into launch commands. CA-signed: `tls` is a PEM file
 * (certificate, chain, then key), [certChain, key], or { cert, key, ca } where `ca` makes the
 * TLS mutual: daemons must present a client certificate that chains to it. `pass` is for an
 * encrypted key.
 *
 * A CA-signed setup is checked here, before anything listens, so that mistakes get a message
 * that says what is wrong: no certificate, no key, an encrypted key without `pass` or with the
 * wrong one, a key that does not belong to the certificate. A certificate that has expired or
 * does not name the URL's host is allowed (the listener may be reached by another name, or the
 * clock may be off) but gets a warning, since daemons will refuse it.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { TlsConfig, writeCert } from '../nng';
import { isEncryptedKey, isPemText, pemText, splitPem } from '../wire/pem';
import { isTlsUrl, parseUrl } from '../wire/url';

export interface HostTls {
  /** For the listener: certificate chain and key, PEM. */
  cert: string;
  key: string;
  pass?: string;
  /** What daemons verify the host with: the self-signed certificate, or the chain. */
  clientCert: string;
  /** Mutual TLS: the CA (PEM) daemons' client certificates must chain to. */
  ca?: string;
}

/** The host side's TLS for url, or undefined for a plain URL. */
export function hostTls(url: string, tls: unknown, pass: string | undefined): HostTls | undefined {
  if (!isTlsUrl(url)) {
    if (tls !== undefined) throw new TypeError(`tls was given but url '${url}' is not tls+tcp:// or wss://`);
    if (pass !== undefined) throw new TypeError(`pass was given but url '${url}' is not tls+tcp:// or wss://`);
    return undefined;
  }
  if (tls === undefined) {
    if (pass !== undefined) {
      throw new TypeError(
        'pass is the passphrase of a key given in tls; a tls+tcp:// url without tls makes its own key (zero-config)',
      );
    }
    return zeroConfig(url);
  }
  if (pass !== undefined && typeof pass !== 'string') throw new TypeError(`pass must be a string (got ${typeof pass})`);
  let certs: string[];
  let key: string;
  let source: string;
  let ca: string | undefined;
  if (tls !== null && typeof tls === 'object' && !Array.isArray(tls)) {
    const o = tls as { cert?: unknown; key?: unknown; ca?: unknown };
    for (const k of Object.keys(o))
      if (k !== 'cert' && k !== 'key' && k !== 'ca')
        throw new TypeError(`tls: unknown key '${k}' (expected cert, key, ca)`);
    if (typeof o.cert !== 'string' || typeof o.key !== 'string')
      throw new TypeError('tls: { cert, key, ca? } needs cert and key as PEM text or file paths');
    if (o.ca !== undefined) {
      if (typeof o.ca !== 'string') throw new TypeError('tls.ca must be PEM text or a file path');
      const caCerts = splitPem(pemText(o.ca, 'tls.ca')).certs;
      if (caCerts.length === 0) throw new TypeError('tls.ca: no CERTIFICATE block found');
      ca = caCerts.join('');
    }
    tls = [o.cert, o.key];
  }
  if (typeof tls === 'string') {
    source = isPemText(tls) ? 'tls (PEM text)' : `tls file '${tls}'`;
    ({ certs, key } = splitPem(pemText(tls, 'tls')));
    if (certs.length === 0)
      throw new TypeError(
        `${source}: no CERTIFICATE block found (expected the certificate, its chain, then the private key)`,
      );
    if (!key)
      throw new TypeError(
        `${source}: no PRIVATE KEY block found: the file must hold the certificate, its chain, then the private key (or give tls as [certChain, key])`,
      );
  } else if (Array.isArray(tls) && tls.length === 2 && typeof tls[0] === 'string' && typeof tls[1] === 'string') {
    source = 'tls[0]';
    certs = splitPem(pemText(tls[0], 'tls[0]')).certs;
    if (certs.length === 0)
      throw new TypeError('tls[0]: no CERTIFICATE block found (expected the certificate, then its chain)');
    const keyText = pemText(tls[1], 'tls[1]');
    key = splitPem(keyText).key;
    if (!key)
      throw new TypeError(
        'tls[1]: no PRIVATE KEY block found (expected the private key of the certificate in tls[0], PEM)',
      );
  } else {
    throw new TypeError('tls must be a PEM file path, PEM text, [certificateChain, key] or { cert, key, ca? }');
  }
  checkKeyPair(url, certs[0]!, key, pass, source);
  const chain = certs.join('');
  return { cert: chain, key, pass, clientCert: chain, ...(ca !== undefined ? { ca } : {}) };
}

/** A fresh ECDSA P-256 key and a self-signed certificate for the URL's host. */
function zeroConfig(url: string): HostTls {
  // The URL's host as dialed, also 0.0.0.0 / :: (daemons given that URL dial it as written).
  const pair = writeCert({ cn: parseUrl(url).host || 'localhost' });
  return { cert: pair.server[0], key: pair.server[1], clientCert: pair.client[0] };
}

/**
 * Checks what can be checked before listening. Node's OpenSSL reads nearly every PEM that
 * mbedTLS does; where it cannot parse something, the check is left to the listener.
 */
function checkKeyPair(url: string, leafPem: string, key: string, pass: string | undefined, source: string): void {
  if (isEncryptedKey(key) && pass === undefined) {
    throw new TypeError(`${source}: the private key is encrypted: give its passphrase as the pass option`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
  } catch (e) {
    throw new TypeError(`${source}: the first certificate cannot be read (${(e as Error).message})`);
  }
  let keyObject: KeyObject | undefined;
  try {
    keyObject = createPrivateKey({ key, format: 'pem', passphrase: pass ?? '' });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (isEncryptedKey(key) && /bad decrypt|BAD_DECRYPT|decrypt/i.test(`${err.code ?? ''} ${err.message}`)) {
      throw new TypeError(`${source}: cannot decrypt the private key with the given pass (wrong passphrase?)`);
    }
    keyObject = undefined; // a format only mbedTLS reads: the listener will tell
  }
  if (keyObject && !leaf.checkPrivateKey(keyObject)) {
    throw new TypeError(
      `${source}: the private key does not belong to the certificate (${leaf.subject.replace(/\n/g, ', ')}); the certificate must come first, then its chain`,
    );
  }
  const now = Date.now();
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  if (Number.isFinite(to) && to < now) {
    warn(
      `the TLS certificate (${leaf.subject.replace(/\n/g, ', ')}) expired on ${leaf.validTo}: daemons will refuse it`,
    );
  } else if (Number.isFinite(from) && from > now) {
    warn(
      `the TLS certificate (${leaf.subject.replace(/\n/g, ', ')}) is not valid before ${leaf.validFrom}: daemons will refuse it`,
    );
  }
  const host = parseUrl(url).host;
  if (host && host !== '0.0.0.0' && host !== '::' && host !== '*') {
    const matches = isIP(host)
      ? leaf.checkIP(host) !== undefined || commonName(leaf) === host
      : leaf.checkHost(host) !== undefined;
    if (!matches) {
      warn(
        `the TLS certificate (${leaf.subject.replace(/\n/g, ', ')}) does not name '${host}': daemons dialing ${host} will refuse it`,
      );
    }
  }
}

/** The subject's CN (mbedTLS accepts an IP address there, OpenSSL's checkIP does not). */
function commonName(cert: X509Certificate): string | undefined {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
}

function warn(message: string): void {
  process.emitWarning(message, { type: 'MiraiTlsWarning' });
}

/** A server TlsConfig for the host's own listener (round-robin mode). */
export function serverConfig(t: HostTls): TlsConfig {
  return new TlsConfig({
    mode: 'server',
    cert: t.cert,
    key: t.key,
    pass: t.pass,
    ...(t.ca !== undefined ? { ca: t.ca, auth: 'required' as const } : {}),
  });
}
