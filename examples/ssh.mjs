// Daemons on another machine over SSH: `node examples/ssh.mjs --remote user@host [--tunnel]`.
// Without --tunnel the daemons dial back to this machine (hostUrl(): its network address, TLS);
// with --tunnel they dial 127.0.0.1 on their side and ssh -R carries the connection, for
// remotes that cannot reach this machine. SSH keys must already work (BatchMode).
//
// Options: --port (ssh port), --identity (key file), --ssh-arg (repeatable, passed to ssh),
// --node (Node on the remote), --url (the host URL, default hostUrl({ tls: true })).
import { parseArgs } from 'node:util';
import { daemons, hostUrl, localUrl, mirai, sshConfig, status } from 'mirai';

const { values } = parseArgs({
  options: {
    remote: { type: 'string' },
    tunnel: { type: 'boolean', default: false },
    port: { type: 'string' },
    identity: { type: 'string' },
    'ssh-arg': { type: 'string', multiple: true, default: [] },
    node: { type: 'string' },
    url: { type: 'string' },
    n: { type: 'string', default: '2' },
  },
});
if (!values.remote) throw new Error('usage: node examples/ssh.mjs --remote user@host [--tunnel]');

const remote = sshConfig(values.remote, {
  tunnel: values.tunnel,
  port: values.port ? Number(values.port) : undefined,
  identity: values.identity,
  sshArgs: values['ssh-arg'],
  node: values.node,
});
// A tunnel needs a URL on 127.0.0.1 (the same port on both ends).
const url = values.url ?? (values.tunnel ? localUrl({ tcp: true }) : hostUrl({ tls: true }));
await daemons(Number(values.n), { url, remote });

console.log('connections:', (await status()).connections);
const hosts = await Promise.all([1, 2].map(() => mirai(() => require('node:os').hostname())));
console.log('ran on:', [...new Set(hosts)].join(', '));
await daemons(0);
