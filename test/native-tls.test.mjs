// Scratch check of the addon's TLS parts: `node test/native-tls.test.mjs` (after cmake-js compile).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

// MIRAI_NNG_NODE: test a build made elsewhere (cmake-js compile -O <dir>).
const nng = createRequire(import.meta.url)(process.env.MIRAI_NNG_NODE ?? '../build/Release/mirai_nng.node');
const { TlsConfig, writeCert, Socket } = nng;
const until = '20991231235959';

const throwsLike = (fn, ctor, re) =>
  assert.throws(fn, (e) => e instanceof ctor && re.test(e.message), String(re));

// writeCert: shapes and argument errors
const ec = writeCert('127.0.0.1', until);
assert.match(ec.server[0], /^-----BEGIN CERTIFICATE-----/);
assert.match(ec.server[1], /^-----BEGIN EC PRIVATE KEY-----/);
assert.deepEqual(ec.client, [ec.server[0], '']);
assert.match(writeCert('h', until, 'rsa2048').server[1], /BEGIN RSA PRIVATE KEY/);
throwsLike(() => writeCert(42, until), TypeError, /cn must be a string/);
throwsLike(() => writeCert('a,b', until), RangeError, /cn must be/);
throwsLike(() => writeCert('h', '2099-12-31'), RangeError, /validUntil/);
throwsLike(() => writeCert('h', '20000101000000'), RangeError, /not in the future/);
throwsLike(() => writeCert('h', until, 'dsa'), TypeError, /keyType/);

// TlsConfig construction and its errors
const srv = new TlsConfig('server', { cert: ec.server[0], key: ec.server[1] });
const cli = new TlsConfig('client', { ca: ec.client[0], key: ec.client[1] });
assert.equal(srv.mode, 'server');
assert.equal(new TlsConfig('client').mode, 'client');
new TlsConfig('server', { cert: ec.server[0] + ec.server[1] }); // one combined PEM
throwsLike(() => new TlsConfig('both'), TypeError, /mode must be 'client' or 'server'/);
throwsLike(() => new TlsConfig('client', 'x'), TypeError, /options must be an object/);
throwsLike(() => new TlsConfig('client', { ca: 5 }), TypeError, /'ca' must be a string/);
throwsLike(() => new TlsConfig('client', { auth: 'maybe' }), TypeError, /'auth' must be/);
throwsLike(() => new TlsConfig('client', { auth: 'required' }), TypeError, /needs 'ca'/);
throwsLike(() => new TlsConfig('server', {}), TypeError, /needs 'cert' and 'key'/);
throwsLike(() => new TlsConfig('client', { ca: 'garbage' }), Error, /CA certificate could not be parsed/);
throwsLike(() => new TlsConfig('server', { cert: ec.server[0] }), Error, /no PRIVATE KEY block/);
throwsLike(() => new TlsConfig('server', { cert: ec.server[0], key: writeCert('x', until).server[1] }),
  Error, /does not match the certificate/);
let enc = null;
try {
  enc = execFileSync('openssl', ['pkey', '-aes256', '-passout', 'pass:secret'], { input: ec.server[1] }).toString();
} catch { console.log('openssl not found: passphrase checks skipped'); }
if (enc) {
  new TlsConfig('server', { cert: ec.server[0], key: enc, pass: 'secret' });
  throwsLike(() => new TlsConfig('server', { cert: ec.server[0], key: enc, pass: 'wrong' }), Error, /wrong passphrase/);
  throwsLike(() => new TlsConfig('server', { cert: ec.server[0], key: enc }), Error, /passphrase .* is required/);
}
const tmp = new TlsConfig('client');
tmp.close();
tmp.close();
assert.equal(tmp.closed, true);

// req/rep over tls+tcp: verified by the URL host, by serverName, and refused for a wrong CA
async function roundTrip(server, client, host = '127.0.0.1') {
  const rep = new Socket('rep');
  const req = new Socket('req');
  try {
    const l = rep.listen('tls+tcp://127.0.0.1:0', server);
    await req.dial(l.url.replace('127.0.0.1', host), client, true);
    const sent = req.send(Buffer.from('ping'), 2000);
    const m = await rep.recv(2000);
    await sent;
    await rep.send(Buffer.from(m.body.toString() + '-pong'), 2000);
    return (await req.recv(2000)).body.toString();
  } finally {
    req.close();
    rep.close();
  }
}
if (Socket) {
  assert.equal(await roundTrip(srv, cli), 'ping-pong');
  const other = writeCert('otherhost', until, 'rsa2048');
  const srv2 = new TlsConfig('server', { cert: other.server[0], key: other.server[1] });
  assert.equal(await roundTrip(srv2, new TlsConfig('client', { ca: other.client[0], serverName: 'otherhost' })), 'ping-pong');
  await assert.rejects(roundTrip(srv2, new TlsConfig('client', { ca: other.client[0] })), /EPEERAUTH|ECRYPTO|uthenticat|ryptographic/);
  await assert.rejects(roundTrip(srv, new TlsConfig('client', { ca: other.client[0] })), /EPEERAUTH|ECRYPTO|uthenticat|ryptographic/);
  assert.equal(await roundTrip(srv, new TlsConfig('client')), 'ping-pong'); // auth 'none'
  throwsLike(() => new Socket('req').dial('tls+tcp://127.0.0.1:1', srv), TypeError, /needs a 'client' TlsConfig/);
  throwsLike(() => new Socket('req').dial('tcp://127.0.0.1:1', cli), Error, /URL without TLS/);
  throwsLike(() => new Socket('req').dial('tls+tcp://127.0.0.1:1', tmp), Error, /TlsConfig is closed/);
  throwsLike(() => new Socket('req').dial('tls+tcp://127.0.0.1:1', {}), TypeError, /must be a TlsConfig/);
} else {
  console.log('Socket not built yet: handshake checks skipped');
}
console.log('native-tls: ok');
