// The dispatcher's options are checked in one place (lib/dispatcher/state.ts checkOptions, in
// lib/wire/validate.ts's vocabulary), whichever way they come: runDispatcher() (a worker's
// workerData) or the `mirai dispatcher` process, whose stdin JSON lib/dispatcher/main.ts only
// parses. The process's error reaches the host through the supervisor's stderr tail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runDispatcher, type DispatcherOptions } from '../dist/dispatcher/dispatcher';
import { startDispatcher } from '../dist/dispatcher/main';
import { SECRET } from './fixtures/auth';
import { errorOf, ipcUrl, withTimeout } from './helpers';

const base = (): DispatcherOptions => ({ hostUrl: ipcUrl().url, daemonUrl: ipcUrl().url, secret: SECRET });

test('runDispatcher: each bad option is a TypeError naming the key, what was expected and what it got', async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ hostUrl: 5 }, /^dispatcher: hostUrl must be a non-empty URL string \(got 5\)$/],
    [{ daemonUrl: '' }, /^dispatcher: daemonUrl must be a non-empty URL string \(got ''\)$/],
    [{ daemonUrl: undefined }, /^dispatcher: daemonUrl must be a non-empty URL string \(got undefined\)$/],
    [{ secret: '' }, /^dispatcher: secret must be a non-empty string \(got string\)$/],
    [{ maxMessageSize: -1 }, /^dispatcher: maxMessageSize must be a number of bytes \(0: no limit\) \(got -1\)$/],
    [{ tls: 'pem' }, /^dispatcher: tls must be \{ cert, key, pass\?, ca\? \} with PEM strings \(got 'pem'\)$/],
    [{ tls: { cert: 'C' } }, /^dispatcher: tls: key must be a PEM string \(got undefined\)$/],
    [{ tls: { cert: 'C', key: 7 } }, /^dispatcher: tls: key must be a PEM string \(got number\)$/],
    [
      { bogus: 1 },
      /^dispatcher: unknown option 'bogus': expected one of hostUrl, daemonUrl, secret, tls, maxMessageSize, prefetch$/,
    ],
  ];
  for (const [change, re] of cases) {
    const e = await errorOf(runDispatcher({ ...base(), ...change } as DispatcherOptions));
    assert.instance(e, TypeError, JSON.stringify(change));
    assert.match(e.message, re);
  }
  assert.match(
    (await errorOf(runDispatcher(null as never))).message,
    /dispatcher options must be an object \(got null\)/,
  );
  // Undefined keys count as absent (the host passes tls: undefined without TLS), and a key or
  // passphrase is never quoted.
  const e = await errorOf(
    runDispatcher({
      ...base(),
      bogus: undefined,
      tls: { cert: 'C', key: 'secret-key', pass: 5, ca: undefined },
    } as never),
  );
  assert.match(e.message, /^dispatcher: tls: pass must be a string \(got number\)$/);
});

test('`mirai dispatcher` process: bad stdin options fail the same check; the host sees why (stderr tail)', async () => {
  const h = startDispatcher('process', { ...base(), secret: '' });
  await withTimeout(h.exited, 15000, 'the dispatcher process to exit');
  assert.match(h.error ?? '', /mirai dispatcher: dispatcher: secret must be a non-empty string \(got string\)/);
  const h2 = startDispatcher('process', { ...base(), maxMessageSize: 1.5 });
  await withTimeout(h2.exited, 15000, 'the dispatcher process to exit');
  assert.match(h2.error ?? '', /dispatcher: maxMessageSize must be a number of bytes/);
});

test.run();
