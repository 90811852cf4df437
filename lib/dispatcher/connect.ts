/**
 * How a dispatcher joins its two sides, kept apart from the queueing of lib/dispatcher/dispatcher.ts:
 * proving itself to the host (it dials the host, so it answers the host's challenge), the TLS
 * configuration of the daemons' listener, and the READY message that tells the host where
 * daemons dial (or why they cannot).
 */
import * as v8 from 'node:v8';
import { AUTH_TIMEOUT_MS, Proof, raiseLimit } from '../wire/auth';
import { TlsConfig, type Socket } from '../nng';
import { header, Kind } from '../wire/protocol';
import { isTlsUrl } from '../wire/url';
import type { DispatcherOptions } from './state';

/** Answers the host's challenge; nothing else is read or sent until the host has welcomed us. */
export async function proveToHost(host: Socket, secret: string): Promise<void> {
  const proof = new Proof(secret);
  const deadline = Date.now() + AUTH_TIMEOUT_MS;
  while (!proof.trusted) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`the host did not complete the handshake within ${AUTH_TIMEOUT_MS} ms`);
    const m = await host.recv({ timeout: left });
    const reply = proof.handle(m.body);
    if (reply !== null) await host.send(reply);
    if (proof.trusted) raiseLimit(host, m.pipe, 0);
  }
}

/** The server TLS configuration of the daemons' listener, or undefined without TLS keys. */
export function daemonTls(opts: DispatcherOptions): TlsConfig | undefined {
  const { daemonUrl, tls } = opts;
  if (tls === undefined) return undefined;
  if (!isTlsUrl(daemonUrl)) {
    throw new Error(`TLS keys were given but '${daemonUrl}' is not a tls+tcp:// or wss:// URL`);
  }
  return new TlsConfig({
    mode: 'server',
    cert: tls.cert,
    key: tls.key,
    pass: tls.pass,
    ...(tls.ca !== undefined ? { ca: tls.ca, auth: 'required' as const } : {}),
  });
}

/** READY: the daemons' URL (with its real port), or why the dispatcher could not listen. */
export function ready(payload: { url: string } | { error: string }): Buffer[] {
  return [header(Kind.READY, 0), v8.serialize(payload)];
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
