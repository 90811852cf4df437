// Daemons over TLS with no certificate to manage: run with `npx tsx examples/tls.ts`.
// daemons() with a tls+tcp URL makes a fresh self-signed certificate; launchLocal() hands it to
// the daemons it starts (remote launchers put it in the daemon command). Every connection must
// also prove it knows the profile's secret before it is sent anything.
import { daemons, launchLocal, mirai, status } from 'mirai';

async function main(): Promise<void> {
  const set = await daemons({ url: 'tls+tcp://127.0.0.1:0' });
  console.log('listening on', set.url.replace(/:\d+$/, ':<port>'));
  await launchLocal(2);
  const s = await status();
  console.log('connections:', s.connections);
  console.log('over tls:', await mirai(() => 'hello over TLS'));
  await daemons(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
