import { addon } from './native';

/** One connection of a socket, identified by NNG's pipe id. */
export class Pipe {
  constructor(readonly id: number) {}
  /** Closes this connection (the peer sees it go; a dialer will reconnect). */
  close(): void {
    addon.closePipe(this.id);
  }

  /**
   * The largest message this connection may deliver from now on, in bytes (0: no limit). A
   * larger message closes the connection (a 'remove' pipe event; nothing is delivered). Only
   * this pipe changes: the socket's `recvMaxSize` is the limit each new connection starts
   * with, so set that small before listening and raise a pipe once its peer is trusted.
   * Setting the socket's `recvMaxSize` later applies to new connections only (NNG >= 1.7): live
   * pipes keep their own limit. Supported over tcp, tls+tcp, ipc, ws and wss;
   * throws NngError ENOTSUP over inproc, ENOENT once the pipe is gone.
   */
  setRecvMaxSize(bytes: number): void {
    addon.setPipeRecvMaxSize(this.id, bytes);
  }

  /** This connection's current receive limit in bytes (0: none). */
  get recvMaxSize(): number {
    return addon.getPipeRecvMaxSize(this.id);
  }
}

export interface PipeEvent {
  type: 'add' | 'remove';
  pipe: Pipe;
}
