// The addon's surface, declared once: everything C++ exports (binding/*.cc) and nothing else.
// The public classes in this folder wrap these.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TlsOptions } from './tls';

export type OptionType = 'ms' | 'int' | 'size' | 'bool' | 'bytes' | 'string';
export type SendData = Buffer | ArrayBufferView | ArrayBuffer | string | NativeMessage;

export interface NativeMessage {
  readonly body: Buffer;
  readonly pipe: number;
  readonly length: number;
  readUInt32LE(offset: number): number;
}

interface OptionHolder {
  setOption(name: string, type: OptionType, value: unknown): void;
  getOption(name: string, type: OptionType): number | boolean | string;
}

export interface NativeEndpoint extends OptionHolder {
  readonly url: string;
  readonly id: number;
  close(): void;
}

export interface NativeSocket extends OptionHolder {
  readonly id: number;
  readonly protocol: string;
  readonly pipes: number;
  listen(url: string, tls: NativeTlsConfig | undefined): NativeEndpoint;
  dial(url: string, tls: NativeTlsConfig | undefined, block: false): NativeEndpoint;
  dial(url: string, tls: NativeTlsConfig | undefined, block: true): Promise<NativeEndpoint>;
  send(data: SendData | SendData[], timeout: number, pipe: number): Promise<void>;
  recv(timeout: number, interruptPrefix?: Uint8Array): Promise<NativeMessage>;
  /** Cancels every pending operation, or the one with this id (see lastOpId). */
  cancel(id?: number): void;
  /** Id of the operation most recently started (for cancelling just that one). */
  readonly lastOpId: number;
  onPipe(cb: ((event: 1 | 0, pipe: number) => void) | null): void;
  setRef(ref: boolean): void;
  interruptOnRemove(on: boolean): void;
  close(): void;
}

export interface NativeContext extends OptionHolder {
  readonly id: number;
  send(data: SendData | SendData[], timeout: number): Promise<void>;
  recv(timeout: number): Promise<NativeMessage>;
  cancel(id?: number): void;
  readonly lastOpId: number;
  close(): void;
}

/** The addon takes PEM text only (lib/nng/tls.ts reads files first). */
export type NativeTlsOptions = Omit<TlsOptions, 'mode'>;

export interface NativeTlsConfig {
  readonly mode: 'client' | 'server';
  readonly closed: boolean;
  close(): void;
}

/** A Windows job object holding a child process's tree (binding/process_job.cc). */
export interface NativeProcessJob {
  /** Ends every process in the job with this exit code; false once closed or if Windows refused. */
  terminate(exitCode: number): boolean;
  /** Lets go of the job; its processes run on. */
  close(): void;
  /** Processes in the job now; -1 once closed. */
  readonly active: number;
}

export interface Addon {
  /** Windows only (elsewhere the constructor throws): puts process pid in a new job. */
  ProcessJob: new (pid: number) => NativeProcessJob;
  Socket: new (protocol: string, raw: boolean) => NativeSocket;
  Context: new (socket: NativeSocket) => NativeContext;
  Message: new () => NativeMessage;
  TlsConfig: new (mode: 'client' | 'server', opts: NativeTlsOptions) => NativeTlsConfig;
  writeCert(
    cn: string,
    validUntil: string,
    keyType: string,
  ): {
    server: [string, string];
    client: [string, string];
  };
  closePipe(id: number): void;
  setPipeRecvMaxSize(id: number, bytes: number): void;
  getPipeRecvMaxSize(id: number): number;
  errnoCodes: Record<string, number>;
  setErrorClass(ctor: new (message: string, code: number, errno: string) => Error): void;
  setExternalBuffers(enabled: boolean): void;
  versions(): { nng: string; mbedtls: string };
  pending(): number;
  /** Raises what an interrupting CANCEL raises (SIGINT; Windows: a Ctrl-Break event); false if it could not. */
  raiseInterrupt(): boolean;
  hold(): void;
  release(): void;
}

// node-gyp-build finds build/Release/*.node in a checkout and prebuilds/<platform>-<arch>/
// in an installed package. This file sits at dist/nng/native.js, two levels below the root.
function load(): Addon {
  const root = path.join(__dirname, '..', '..');
  try {
    return require('node-gyp-build')(root);
  } catch (err) {
    // node-gyp-build's own message lists every tag it matched against; what a user needs is
    // which platform this is and the one command that fixes it (scripts/install.js explains
    // what a source build needs when it runs).
    const libc =
      process.platform === 'linux'
        ? ` ${process.env.LIBC ?? (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc')}`
        : '';
    const first = String((err as Error)?.message).split('\n')[0];
    const why = first.startsWith('No native build was found')
      ? ': no prebuilt addon matches and none was compiled'
      : ` (${first})`;
    throw new Error(
      `mirai: its native addon is not installed for ${process.platform}-${process.arch}${libc}` +
        `${why}. Run \`npm rebuild mirai\` (without a prebuilt addon for this platform that ` +
        `compiles one: cmake, a C++17 compiler and the cmake-js and node-addon-api packages).`,
      { cause: err },
    );
  }
}

export const addon: Addon = load();
