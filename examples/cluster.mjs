// Daemons as Slurm jobs: `node examples/cluster.mjs` on a login node, from a directory on a
// shared filesystem where `mirai` is installed (the jobs start there and find the package).
// Each daemon is one job; daemons(0) ends them and cancels any still queued.
//
// Options: --n (daemons, default 2), --options (sbatch option lines), --url (default hostUrl():
// this machine's address, which the compute nodes must reach), --node (Node on the nodes).
import { parseArgs } from 'node:util';
import { clusterConfig, daemons, hostUrl, mirai, status } from 'mirai';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '2' },
    options: { type: 'string', default: '#SBATCH --job-name=mirai\n#SBATCH --time=00:10:00' },
    url: { type: 'string' },
    node: { type: 'string' },
  },
});

await daemons(Number(values.n), {
  url: values.url ?? hostUrl(),
  remote: clusterConfig({ command: 'sbatch', options: values.options, node: values.node }),
});
console.log('connections:', (await status()).connections);
const jobs = await Promise.all([1, 2].map(() => mirai(() => process.env.SLURM_JOB_ID ?? 'none')));
console.log(
  'inside Slurm jobs:',
  jobs.every((j) => j !== 'none'),
);
await daemons(0);
