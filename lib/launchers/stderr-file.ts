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
 * It must not outlive this process, even when that is killed with SIGKILL: on POSIX it is unlinked
 * as soon as it is opened and read back through our own descriptor (children write to a dup of
 * it). Windows cannot unlink an open file, so there the name carries our pid and the next process
 * that opens one removes the files of dead pids (wire/url.ts removeStaleFiles).
 */
export class StderrFile {
  /** Our descriptor, for ChildOptions.stderr (undefined once closed). */
  #fd: number | undefined;
  /** Its name while it exists (Windows only; removed at close()). */
  #path: string | undefined;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    const file = path.join(os.tmpdir(), `mirai-${process.pid}-${randomBytes(4).toString('hex')}.log`);
    if (process.platform === 'win32') removeStaleFiles(); // Windows cannot unlink an open log: sweep dead pids' files
    // Read-write (we read it back through this fd), append (children share it), owner only.
    this.#fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | constants.O_APPEND, 0o600);
    if (process.platform === 'win32') {
      this.#path = file;
    } else {
      try {
        unlinkSync(file);
      } catch {
        this.#path = file; // cannot happen for a file we just created; fall back to rm at close
      }
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
