/**
 * mirai for Node.js: run JavaScript tasks asynchronously on persistent background processes
 * (daemons), local or remote, through NNG. A port of R's mirai.
 * @module mirai
 */
export {
  mirai,
  tryMirai,
  whenRoom,
  everywhere,
  type TaskOptions,
  type TaskContext,
  type EverywhereOptions,
} from './host/submit';
export { QueueFullError } from './host/budget';
export { Mirai } from './host/mirai';
export { unresolved, stopMirai, race, collect } from './host/collect';
export { miraiMap, MiraiMap, type MapOptions, type Settled } from './host/map';
export {
  daemons,
  status,
  withDaemons,
  launchLocal,
  launchRemote,
  requireDaemons,
  type DaemonsOptions,
  type DaemonProcessOptions,
  type DaemonSet,
  type Status,
  type LaunchLocalOptions,
  type LaunchRemoteOptions,
} from './host/daemons';
// Per-daemon events (pushed; an EventEmitter and an async iterator) and rows: lib/host/info.ts.
export {
  daemonEvents,
  info,
  DaemonEvents,
  type ConnectEvent,
  type DaemonEvent,
  type DaemonEventMap,
  type DaemonInfo,
  type DaemonRef,
  type DisconnectEvent,
  type DisconnectReason,
  type ProcessExit,
  type ReplacedEvent,
  type TaskLostEvent,
  type Transport,
} from './host/info';
export { daemon, type DaemonOptions, type ExitReason } from './daemon/daemon';
export type { SerialConfig } from './wire/serial';
export {
  MiraiError,
  ErrorValue,
  Code,
  isMiraiError,
  isErrorValue,
  type ErrorValueCode,
  type MiraiErrorInit,
} from './wire/errors';
export type { ErrorPayload, DepartureHint } from './wire/protocol';
export type { Scheme } from './wire/url';
export type { DaemonEventListener } from './host/events';
export type { RespawnHooks } from './launchers/respawn';
export { hostUrl, localUrl } from './wire/url';
export {
  daemonCommand,
  shellQuote,
  type RemoteConfig,
  type RemoteLaunch,
  type NodeCommand,
  type Quoter,
  type CommandOptions,
} from './launchers/remote';
export { sshConfig, type SshOptions } from './launchers/ssh';
export { remoteConfig, type RemoteConfigOptions } from './launchers/remote-config';
export { clusterConfig, type ClusterConfigOptions, type ClusterCommand } from './launchers/cluster';
