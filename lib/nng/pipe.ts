import { addon } from './native';

/** One connection of a socket, identified by NNG's pipe id. */
export class Pipe {
  constructor(readonly id: number) {}
  /** Closes this connection (the peer sees it go; a dialer will reconnect). */
  close(): void {
    addon.closePipe(this.id);
  }
}

export interface PipeEvent {
  type: 'add' | 'remove';
  pipe: Pipe;
}
