import { pemText } from '../wire/pem';
import { addon, type NativeTlsConfig } from './native';

export interface TlsOptions {
  mode: 'client' | 'server';
  /** Own certificate (chain), PEM text or a path to a PEM file. */
  cert?: string;
  /** Own private key, PEM text or a path. A file holding cert and key may be given as both. */
  key?: string;
  /** Passphrase of an encrypted key. */
  pass?: string;
  /** Certificate(s) to trust, PEM text or a path. */
  ca?: string;
  /** Peer verification: default 'required' for a client given `ca`, else 'none'. */
  auth?: 'none' | 'optional' | 'required';
  /** Name the server certificate must carry (client); default: the host of the dialed URL. */
  serverName?: string;
}

const KEYS = new Set(['mode', 'cert', 'key', 'pass', 'ca', 'auth', 'serverName']);

/** PEM text as is; anything else is read as a file path (the one rule: lib/wire/pem.ts). */
function pem(what: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new TypeError(`tls.${what} must be PEM text or a file path (got ${typeof v})`);
  return pemText(v, `tls.${what}`);
}

/** A TLS configuration for `listen(url, { tls })` / `dial(url, { tls })` on tls+tcp:// or wss://. */
export class TlsConfig {
  /** @internal */
  readonly native: NativeTlsConfig;
  readonly mode: 'client' | 'server';

  constructor(opts: TlsOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('TlsConfig expects an options object');
    for (const k of Object.keys(opts)) {
      if (!KEYS.has(k)) throw new TypeError(`unknown TLS option '${k}': expected one of ${[...KEYS].join(', ')}`);
    }
    if (opts.mode !== 'client' && opts.mode !== 'server') {
      throw new TypeError(`tls.mode must be 'client' or 'server' (got ${JSON.stringify(opts.mode)})`);
    }
    this.mode = opts.mode;
    this.native = new addon.TlsConfig(opts.mode, {
      cert: pem('cert', opts.cert),
      key: pem('key', opts.key),
      pass: opts.pass,
      ca: pem('ca', opts.ca),
      auth: opts.auth,
      serverName: opts.serverName,
    });
  }

  close(): void {
    this.native.close();
  }
}

export interface CertOptions {
  /** Common name: the host name clients will dial (default 'localhost'). */
  cn?: string;
  /** Expiry: a Date, ms since epoch, or 'YYYYMMDDHHMMSS' (UTC). Default: one year from now. */
  validUntil?: Date | number | string;
  /** Key type; ECDSA P-256 (default) costs milliseconds, RSA much more. */
  keyType?: 'ecdsa' | 'rsa2048' | 'rsa4096';
}

export interface CertPair {
  /** `[certificate PEM, private key PEM]`: for the listening side. */
  server: [string, string];
  /** `[certificate PEM, '']`: what dialers need to verify the server. */
  client: [string, string];
}

function asn1Time(v: Date | number | string): string {
  if (typeof v === 'string') {
    if (!/^\d{14}$/.test(v)) throw new RangeError(`validUntil '${v}' must be YYYYMMDDHHMMSS (UTC)`);
    return v;
  }
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) throw new RangeError(`validUntil ${String(v)} is not a valid date`);
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Generates a key pair and a self-signed certificate, in the addon (mbedTLS). */
export function writeCert(opts: CertOptions = {}): CertPair {
  const cn = opts.cn ?? 'localhost';
  if (typeof cn !== 'string' || cn.length === 0) throw new TypeError('writeCert: cn must be a non-empty string');
  const until = asn1Time(opts.validUntil ?? Date.now() + 365 * 24 * 3600 * 1000);
  return addon.writeCert(cn, until, opts.keyType ?? 'ecdsa');
}
