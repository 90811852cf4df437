/**
 * PEM, one module: "is this PEM text or a file path?" (TLS options accept both everywhere),
 * reading the file when it is a path, splitting PEM text into certificates and a key, and
 * telling an encrypted key. The host's TLS set-up (lib/host/tls-setup.ts) and the addon's
 * TlsConfig (lib/nng/tls.ts, for its cert, key and ca) both ask here. No imports but node:fs, so
 * that lib/nng may use it without depending on the rest of the wire layer.
 */
import { readFileSync } from 'node:fs';

/** True for PEM text (it has a BEGIN line); anything else is taken for a file path. */
export function isPemText(v: string): boolean {
  return v.includes('-----BEGIN');
}

/** PEM text as is, or the contents of the file v names; `what` names the option in errors. */
export function pemText(v: string, what: string): string {
  if (isPemText(v)) return v;
  try {
    return readFileSync(v, 'utf8');
  } catch (e) {
    throw new TypeError(`${what}: cannot read '${v}' (${(e as Error).message})`);
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----[ \t]*\r?\n?/g;

/** Splits PEM text into its certificate blocks and its (first) private key block. */
export function splitPem(text: string): { certs: string[]; key: string } {
  const certs: string[] = [];
  let key = '';
  for (const m of text.matchAll(PEM_BLOCK)) {
    const block = m[0].endsWith('\n') ? m[0] : `${m[0]}\n`;
    if (m[1]!.endsWith('PRIVATE KEY')) {
      if (!key) key = block;
    } else if (m[1] === 'CERTIFICATE' || m[1] === 'TRUSTED CERTIFICATE') {
      certs.push(block);
    }
  }
  return { certs, key };
}

/** True for an encrypted private key (PKCS#8 or the traditional Proc-Type header). */
export function isEncryptedKey(key: string): boolean {
  return key.includes('BEGIN ENCRYPTED PRIVATE KEY') || /Proc-Type:\s*4,\s*ENCRYPTED/.test(key);
}
