// Bad input gives a clear error: the right class, errno, and a message naming the culprit.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NngError, Socket, TlsConfig, writeCert, type Protocol } from '../../dist/nng';
import { Closer, errorOf } from '../helpers';

const closer = new Closer();
const open = (p: Protocol): Socket => closer.track(new Socket(p));
test.after.each(() => closer.closeAll());

async function expectError(
  what: string,
  f: () => unknown,
  cls: abstract new (...args: never[]) => Error,
  re: RegExp,
  errno?: string,
): Promise<void> {
  const e = await errorOf(f).catch((err) => assert.unreachable(`${what}: ${err.message}`));
  assert.instance(e, cls, `${what}: ${String(e)}`);
  assert.match(e.message, re, `${what}: ${e.message}`);
  if (errno) assert.is(e.errno, errno, `${what}: ${e.message}`);
}

test('unknown protocol: TypeError naming it and the valid ones', async () => {
  await expectError('protocol', () => new Socket('reqq' as Protocol), TypeError, /reqq.*req, rep/);
  await expectError('non-string', () => new Socket(42 as unknown as Protocol), TypeError, /42/);
});

test('malformed or unsupported URLs: NngError with the URL in the message', async () => {
  const s = open('req');
  const quote = (url: string) => new RegExp(url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  for (const url of ['tcp://nohost', 'foo://x', 'not a url']) {
    await expectError(`dial ${url}`, () => s.dial(url), NngError, quote(url));
    await expectError(`listen ${url}`, () => s.listen(url), NngError, quote(url));
  }
  // A bad port is only found when the address is resolved: by listen, or a blocking dial.
  const badPort = 'tcp://127.0.0.1:99999';
  await expectError('listen bad port', () => s.listen(badPort), NngError, quote(badPort), 'EADDRINVAL');
  await expectError(
    'blocking dial bad port',
    () => s.dial(badPort, { block: true }),
    NngError,
    quote(badPort),
    'EADDRINVAL',
  );
  await expectError('blocking dial', () => s.dial('foo://x', { block: true }), NngError, /foo:\/\/x/, 'ENOTSUP');
  await expectError('url type', () => s.listen(5 as unknown as string), TypeError, /url/);
});

test('unknown option: TypeError naming it, wherever options are set', async () => {
  const s = open('req');
  const l = s.listen(`inproc://errors-${process.pid}`);
  const cases: Array<[string, () => unknown]> = [
    ['constructor', () => new Socket('req', { recvTimout: 5 } as object)],
    ['setOption', () => s.setOption('recvTimout' as 'recvTimeout', 5)],
    ['getOption', () => s.getOption('recvTimout' as 'recvTimeout')],
    ['context', () => s.context().setOption('recvTimout' as 'recvTimeout', 5)],
    ['listener', () => l.setOption('recvTimout' as 'recvTimeout', 5)],
  ];
  for (const [what, f] of cases) await expectError(what, f, TypeError, /recvTimout.*recvTimeout/);
  await expectError(
    'TLS option',
    () => new TlsConfig({ mode: 'client', cafile: 'x' } as object as TlsConfig),
    TypeError,
    /cafile/,
  );
  await expectError('option value', () => s.setOption('recvTimeout', 'soon' as unknown as number), TypeError, /number/);
  await expectError('option of another protocol', () => s.subscribe('x'), NngError, /subscribe/, 'ENOTSUP');
});

test('send after close: ECLOSED (socket and context)', async () => {
  const s = open('push');
  s.close();
  await expectError('socket', () => s.send('x'), NngError, /closed/, 'ECLOSED');
  const r = open('req');
  const ctx = r.context();
  ctx.close();
  await expectError('closed context', () => ctx.send('x'), NngError, /closed/, 'ECLOSED');
  const ctx2 = r.context();
  r.close();
  await expectError('context of a closed socket', () => ctx2.send('x'), NngError, /closed/, 'ECLOSED');
});

test('bad send data: TypeError listing what is accepted', async () => {
  const s = open('push');
  const bad: unknown[] = [42, null, undefined, {}, ['ok', 5], Symbol('x')];
  for (const data of bad) {
    await expectError(`send(${String(data)})`, () => s.send(data as string), TypeError, /Buffer.*string/);
  }
  await expectError(
    'context send',
    () =>
      open('req')
        .context()
        .send({} as string),
    TypeError,
    /Buffer/,
  );
});

test('a forwarded Message cannot be sent twice', async () => {
  const [pull, push, out] = [open('pull'), open('push'), open('push')];
  pull.listen(`inproc://errors-fwd-${process.pid}`);
  push.dial(`inproc://errors-fwd-${process.pid}`);
  open('pull').listen(`inproc://errors-fwd2-${process.pid}`);
  out.dial(`inproc://errors-fwd2-${process.pid}`);
  await push.send('once', { timeout: 5000 });
  const m = await pull.recv({ timeout: 5000 });
  await out.send(m, { timeout: 5000 });
  await expectError('second forward', () => out.send(m), NngError, /already sent/);
});

test('bad timeouts and TLS misuse are clear errors', async () => {
  const s = open('req');
  await expectError('negative timeout', () => s.recv({ timeout: -5 }), RangeError, /timeout.*-5/);
  await expectError('NaN timeout', () => s.send('x', { timeout: NaN }), RangeError, /NaN/);
  const c = writeCert();
  const server = closer.track(new TlsConfig({ mode: 'server', cert: c.server[0], key: c.server[1] }));
  await expectError(
    'tls on tcp',
    () => s.listen('tcp://127.0.0.1:0', { tls: server }),
    NngError,
    /tls\+tcp/,
    'ENOTSUP',
  );
  await expectError(
    'server config to dial',
    () => s.dial('tls+tcp://127.0.0.1:1', { tls: server }),
    TypeError,
    /client/,
  );
  await expectError('bad mode', () => new TlsConfig({ mode: 'both' as 'client' }), TypeError, /both/);
  await expectError(
    'unparsable PEM',
    () => new TlsConfig({ mode: 'client', ca: '-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n' }),
    NngError,
    /CA certificate could not be parsed/,
    'ECRYPTO',
  );
  await expectError(
    'missing file',
    () => new TlsConfig({ mode: 'client', ca: '/nonexistent/ca.pem' }),
    TypeError,
    /nonexistent/,
  );
});

test.run();
