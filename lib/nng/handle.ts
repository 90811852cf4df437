import { getOptionOf, setOptionOn, type SocketOptionValues } from './options';
import type { OptionType } from './native';

/** What every native object with typed options has (context, dialer, listener). */
export interface NativeHandle {
  readonly id: number;
  setOption(name: string, type: OptionType, value: unknown): void;
  getOption(name: string, type: OptionType): number | boolean | string;
  close(): void;
}

/** The common surface of contexts and endpoints: NNG id, typed options, idempotent close. */
export abstract class Handle<N extends NativeHandle> {
  /** @internal */
  protected readonly native: N;
  /** @internal */
  constructor(native: N) {
    this.native = native;
  }
  /** NNG's id of this object. */
  get id(): number {
    return this.native.id;
  }
  setOption<K extends keyof SocketOptionValues>(name: K, value: SocketOptionValues[K]): void {
    setOptionOn(this.native, name, value);
  }
  getOption<K extends keyof SocketOptionValues>(name: K): SocketOptionValues[K] {
    return getOptionOf(this.native, name);
  }
  /** Idempotent. */
  close(): void {
    this.native.close();
  }
  [Symbol.dispose](): void {
    this.close();
  }
}
