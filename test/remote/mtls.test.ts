// Mutual TLS: a host given tls: { cert, key, ca } takes only daemons that present a client
// certificate chaining to ca (daemon options tlsClientCert / tlsClientKey), with a dispatcher
// and round-robin. Daemons without one, or with another, are refused at the TLS handshake.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { daemons, launchLocal, mirai, status } from '../../dist';
import { writeCert } from '../../dist/nng';
import { errorOf, removeTemps, tempFile } from '../helpers';
import { assertNoDaemonChildren } from '../fixtures/mirai/common';

const host = writeCert({ cn: '127.0.0.1' });
const daemon = writeCert({ cn: 'mirai-daemon' });
const stranger = writeCert({ cn: 'mirai-daemon' });

test.after.each(async () => {
  await daemons(0);
});
test.after(async () => {
  await assertNoDaemonChildren();
  removeTemps();
});

for (const dispatcher of [true, false]) {
  const mode = dispatcher ? 'dispatcher' : 'round-robin';
  test(`${mode}: a daemon with the right client certificate connects; none, or another, is refused`, async () => {
    await daemons({
      url: 'tls+tcp://127.0.0.1:0',
      dispatcher,
      respawn: false,
      tls: { cert: host.server[0], key: host.server[1], ca: daemon.server[0] },
    });
    await launchLocal(1, {
      tlsClientCert: daemon.server[0],
      tlsClientKey: tempFile('daemon-key.pem', daemon.server[1]),
    });
    assert.is(await mirai(() => 'mutual'), 'mutual');
    const none = await errorOf(launchLocal(1));
    assert.match(String(none?.message), /did not connect/);
    const other = await errorOf(
      launchLocal(1, {
        tlsClientCert: stranger.server[0],
        tlsClientKey: tempFile('stranger-key.pem', stranger.server[1]),
      }),
    );
    assert.match(String(other?.message), /did not connect/);
    assert.is((await status()).connections, 1);
  });
}

test('tls: { cert, key, ca } is checked before anything listens; the client options go together', async () => {
  const bad = await errorOf(
    daemons({ url: 'tls+tcp://127.0.0.1:0', tls: { cert: host.server[0], key: host.server[1], ca: 'not pem' } }),
  );
  assert.match(String(bad?.message), /tls.ca: cannot read 'not pem'/);
  const alone = await errorOf(
    daemons({
      url: 'tls+tcp://127.0.0.1:0',
      tls: { cert: host.server[0], key: host.server[1] },
      tlsClientCert: daemon.server[0],
    }).then(() => launchLocal(1)),
  );
  assert.match(String(alone?.message), /go together/);
});

test.run();
