import type { OptionType } from './native';

/** What holds typed NNG options natively (socket, context, dialer, listener). */
interface OptionHolder {
  setOption(name: string, type: OptionType, value: unknown): void;
  getOption(name: string, type: OptionType): number | boolean | string;
}

/** Options settable on a socket (most also on contexts, dialers and listeners). */
export interface SocketOptionValues {
  /** Default send timeout in ms (-1: none). */
  sendTimeout: number;
  /** Default receive timeout in ms (-1: none). */
  recvTimeout: number;
  /** Reconnect back-off of dialers, in ms. */
  reconnectMinTime: number;
  reconnectMaxTime: number;
  /** Largest message accepted, in bytes (0: no limit). NNG's own default is 1 MB. */
  recvMaxSize: number;
  /** Send / receive queue depth, in messages (0-8192). */
  sendBuffer: number;
  recvBuffer: number;
  /** req: resend a request after this many ms without a reply. */
  reqResendTime: number;
  /** surveyor: how long a survey collects answers, in ms. */
  surveyTime: number;
  /** Socket name, as NNG reports it. */
  socketName: string;
  /**
   * TCP_NODELAY of tcp-based dialers and listeners (tcp, tls+tcp, ws, wss). The addon turns it
   * on for every endpoint it creates: with Nagle on, a TLS message leaves as two records and the
   * second waits ~40 ms for the peer's delayed ACK.
   */
  tcpNodelay: boolean;
}

export type OptionName = keyof SocketOptionValues;

/** TS name -> NNG option name and type. */
export const OPTIONS: Readonly<Record<OptionName, readonly [string, OptionType]>> = {
  sendTimeout: ['send-timeout', 'ms'],
  recvTimeout: ['recv-timeout', 'ms'],
  reconnectMinTime: ['reconnect-time-min', 'ms'],
  reconnectMaxTime: ['reconnect-time-max', 'ms'],
  recvMaxSize: ['recv-size-max', 'size'],
  sendBuffer: ['send-buffer', 'int'],
  recvBuffer: ['recv-buffer', 'int'],
  reqResendTime: ['req:resend-time', 'ms'],
  surveyTime: ['surveyor:survey-time', 'ms'],
  socketName: ['socket-name', 'string'],
  tcpNodelay: ['tcp-nodelay', 'bool'],
};

/** Looks an option up, with an error that names the bad key and the valid ones. */
export function optionSpec(name: string): readonly [string, OptionType] {
  const spec = (OPTIONS as Record<string, readonly [string, OptionType]>)[name];
  if (!spec) {
    throw new TypeError(`unknown option '${name}': expected one of ${Object.keys(OPTIONS).join(', ')}`);
  }
  return spec;
}

/** Sets option `name` (our name) on a native holder. */
export function setOptionOn<K extends OptionName>(holder: OptionHolder, name: K, value: SocketOptionValues[K]): void {
  const [nngName, type] = optionSpec(name);
  holder.setOption(nngName, type, value);
}

/** Reads option `name` (our name) from a native holder. */
export function getOptionOf<K extends OptionName>(holder: OptionHolder, name: K): SocketOptionValues[K] {
  const [nngName, type] = optionSpec(name);
  return holder.getOption(nngName, type) as SocketOptionValues[K];
}
