// The stderr file local daemons share (lib/launchers/local.ts), read back for error messages.
import { closeSync, constants, fstatSync, openSync, readSync, rmSync, unlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { removeStaleFiles } from '../wire/url';

/**
 * A file that children's stderr goes to (all the children of one batch share it), read back for
 * error messages: its last maxBytes. A file rather than pipes, so that nothing here must keep
 * reading while a busy host is not listening.
 *
 * It must not outlive this process, even when that is killed with SIGKILL: it is unlinked as soon
 * as it is opened and read back through our own descriptor (children write to a dup of it). On
 * Windows that marks it delete-pending (libuv opens files with FILE_SHARE_DELETE): the name may
 * stay listed until the last handle, ours or a daemon's, is closed, and the system removes it
 * then, however this process ends. Should the unlink fail, the name carries our pid and the next
 * process that opens one removes the files of dead pids (wire/url.ts removeStaleFiles).
 */
export class StderrFile {
  /** Our descriptor, for ChildOptions.stderr (undefined once closed). */
  #fd: number | undefined;
  /** Its name, if the unlink failed (removed at close()). */
  #path: string | undefined;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    const file = path.join(os.tmpdir(), `mirai-${process.pid}-${randomBytes(4).toString('hex')}.log`);
    // Windows: logs that a failed unlink (or an older version) left, of dead pids.
    if (process.platform === 'win32') removeStaleFiles();
    // Read-write (we read it back through this fd), append (children share it), owner only.
    this.#fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | constants.O_APPEND, 0o600);
    try {
      unlinkSync(file);
    } catch {
      this.#path = file; // not for a file we just created, but then: rm at close, or the sweep
    }
  }

  /** The descriptor children write to; undefined once closed. */
  get fd(): number | undefined {
    return this.#fd;
  }

  /** Its last maxBytes, trimmed ('' once closed or on a read error). */
  tail(): string {
    if (this.#fd === undefined) return '';
    try {
      const size = fstatSync(this.#fd).size;
      const len = Math.min(size, this.#maxBytes);
      const buf = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const r = readSync(this.#fd, buf, got, len - got, size - len + got);
        if (r === 0) break;
        got += r;
      }
      return buf.subarray(0, got).toString('utf8').trim();
    } catch {
      return '';
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    if (this.#path) rmSync(this.#path, { force: true });
    this.#path = undefined;
  }
}
