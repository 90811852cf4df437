/**
 * mirai for Node.js: run JavaScript tasks asynchronously on persistent background processes
 * (daemons), local or remote, through NNG. A port of R's mirai.
 */
export { mirai, everywhere, type TaskOptions, type TaskContext } from './tasks';
export { Mirai } from './mirai';
export { unresolved, stopMirai, race, collect } from './collect';
export { miraiMap, MiraiMap, type MapOptions, type Settled } from './mirai-map';
export {
  daemons, status, withDaemons, launchLocal, launchRemote, requireDaemons,
  type DaemonsOptions, type DaemonProcessOptions, type DaemonSet, type Status, type LaunchLocalOptions, type LaunchRemoteOptions,
} from './daemons';
export { daemon, type DaemonOptions, type ExitReason } from './daemon';
export type { SerialConfig } from './serial';
export { MiraiError, ErrorValue, isMiraiError, isErrorValue } from './errors';
export { hostUrl, localUrl } from './url';
export { daemonCommand, shellQuote, type RemoteConfig, type RemoteLaunch } from './launchers/remote';
export { sshConfig, type SshOptions } from './launchers/ssh';
export { remoteConfig, type RemoteConfigOptions } from './launchers/remote-config';
export { clusterConfig, type ClusterConfigOptions } from './launchers/cluster';
