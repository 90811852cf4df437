// Interoperability with NNG's own command-line tool (Debian's nngcat, package nng-utils) as the
// peer, for req/rep over ipc and tls+tcp, in both roles.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { Socket, TlsConfig, writeCert } from '../../dist/nng';
import { Closer, freePort, ipcUrl, killChildren, removeTemps, spawnProcess, tempFile, withTimeout } from '../helpers';

const haveNngcat = spawnSync('which', ['nngcat']).status === 0;
if (!haveNngcat) console.log('  interop: skipped, nngcat not found (apt-get install nng-utils; .ci/run does)');
const it = haveNngcat ? test : test.skip;

const closer = new Closer();
test.after.each(() => {
  closer.closeAll();
  killChildren();
});
test.after(() => removeTemps());

const nngcat = (...args: string[]) => spawnProcess('nngcat', [...args, '--ascii'], { timeoutMs: 15000 });

/** Our req socket asks nngcat's rep (listening on url, with extra args) and gets its reply. */
async function askNngcat(url: string, peerArgs: string[] = [], tls?: TlsConfig): Promise<void> {
  const peer = nngcat('--rep', '--listen', url, ...peerArgs, '--data', 'pong from nngcat', '--count', '1');
  // Dial in the background: the dialer retries until nngcat listens.
  const req = closer.track(new Socket('req', { reconnectMinTime: 20, reconnectMaxTime: 100 }));
  req.dial(url, { tls });
  await req.send('ping from node', { timeout: 10000 });
  assert.is((await req.recv({ timeout: 10000 })).body.toString(), 'pong from nngcat');
  const exit = await withTimeout(peer.exited, 10000, 'nngcat to exit');
  assert.equal(exit, { code: 0, signal: null }, peer.stderr);
  assert.ok(peer.stdout.includes('ping from node'), `nngcat printed: ${peer.stdout}`);
}

/** nngcat's req asks our rep socket, listening on url. */
async function answerNngcat(url: string, tls?: { server: TlsConfig; ca: string }): Promise<void> {
  const rep = closer.track(new Socket('rep'));
  const l = rep.listen(url, { tls: tls?.server });
  const peer = nngcat('--req', '--dial', l.url, ...(tls ? ['--cacert', tls.ca] : []), '--data', 'ping from nngcat');
  const m = await rep.recv({ timeout: 10000 });
  assert.is(m.body.toString(), 'ping from nngcat');
  await rep.send('pong from node', { timeout: 5000 });
  const exit = await withTimeout(peer.exited, 10000, 'nngcat to exit');
  assert.equal(exit, { code: 0, signal: null }, peer.stderr);
  assert.ok(peer.stdout.includes('pong from node'), `nngcat printed: ${peer.stdout}`);
}

it('nngcat rep <- our req over ipc', async () => {
  await askNngcat(ipcUrl().url);
});

it('nngcat req -> our rep over ipc', async () => {
  await answerNngcat(ipcUrl().url);
});

it('nngcat rep <- our req over tls+tcp (certificate from writeCert)', async () => {
  const c = writeCert({ cn: '127.0.0.1' });
  const files = ['--cert', tempFile('cert.pem', c.server[0]), '--key', tempFile('key.pem', c.server[1])];
  const client = closer.track(new TlsConfig({ mode: 'client', ca: c.client[0] }));
  await askNngcat(`tls+tcp://127.0.0.1:${await freePort()}`, files, client);
});

it('nngcat req -> our rep over tls+tcp', async () => {
  const c = writeCert({ cn: '127.0.0.1' });
  const server = closer.track(new TlsConfig({ mode: 'server', cert: c.server[0], key: c.server[1] }));
  await answerNngcat('tls+tcp://127.0.0.1:0', { server, ca: tempFile('ca.pem', c.client[0]) });
});

test.run();
