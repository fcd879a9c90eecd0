// Where reset log lines go, written so that a destination that does not drain never blocks or
// slows the app and never keeps the process alive:
// - a pipe or FIFO (stderr piped to a reader that stopped reading): reopened through
//   /proc/self/fd/N with O_NONBLOCK, a file description of our own, so the app's fd keeps its
//   flags; a line that does not fit is dropped and counted at once (a line up to PIPE_BUF bytes
//   is written whole or not at all);
// - a unix socket (journald's stdout stream), or a pipe when /proc cannot reopen it: written to the
//   app's fd, made non-blocking the way Node makes it (below), so a full one drops lines too;
// - a regular file, a TTY, or anything else: written synchronously to the fd (files drain);
// - a file path: opened for appending (directories created);
// - in a PM2 cluster worker: through process.stdout/stderr's `write`, which PM2 replaces there to
//   send the app's output to its daemon (the app's log files, `pm2 logs`, pm2-runtime's stdout):
//   the worker's fd 2 is the daemon's own (its pm2.log under the classic daemon). Only while the
//   IPC channel is connected and not backed up (PM2's `process.send` raises an error on the process
//   once it is closed); otherwise the fd, as for any process. The line of a reset that crashes the
//   process goes the same way: the IPC write is attempted at once, as PM2's own crash report is.
// Every write is one synchronous syscall, so a line is on its way before the next statement
// runs: the line for a reset that is about to crash the process is never lost in a buffer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countDropped } from '../../agent/stats';
import { diag, pm2ClusterWorker } from '../../agent/diag';
import { hrtimeBigint } from '../../agent/timers';

/** A fatal line retries a full pipe for at most this long before it is dropped. */
const FATAL_RETRY_MS = 200;
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export interface LineWriter {
  /** Writes one line; returns false when it was dropped (and counted). */
  write(line: string, fatal?: boolean): boolean;
  close(): void;
  readonly kind: 'pipe' | 'fd' | 'file';
}

class FdWriter implements LineWriter {
  private pending: Buffer | undefined;
  private broken = false;
  constructor(
    private fd: number,
    readonly kind: 'pipe' | 'fd' | 'file',
    private readonly owned: boolean,
    private beforeFirstWrite?: () => void,
  ) {}

  write(line: string, fatal = false): boolean {
    if (this.beforeFirstWrite !== undefined) {
      const prepare = this.beforeFirstWrite;
      this.beforeFirstWrite = undefined;
      try {
        prepare();
      } catch {
        /* written as it is */
      }
    }
    if (this.broken) {
      countDropped('log');
      return false;
    }
    // The rest of a line a full pipe cut short goes first, or the new line would be spliced into it.
    if (this.pending !== undefined && !this.push(this.pending, fatal)) {
      countDropped('log');
      return false;
    }
    const ok = this.push(Buffer.from(line), fatal);
    if (!ok) countDropped('log');
    return ok;
  }

  /** True when `buf` was written entirely or its tail is kept in `pending`. */
  private push(buf: Buffer, fatal: boolean): boolean {
    // Monotonic: neither an app's fake Date nor a wall-clock step may hold a crashing app here.
    const deadline = fatal ? hrtimeBigint() + BigInt(FATAL_RETRY_MS) * 1_000_000n : 0n;
    let off = 0;
    for (;;) {
      try {
        off += fs.writeSync(this.fd, buf, off);
        if (off >= buf.length) {
          this.pending = undefined;
          return true;
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
          this.broken = true;
          diag('warn', `reset log lines can no longer be written (${code ?? String(err)}); further lines are dropped and counted`);
          return false;
        }
      }
      if (hrtimeBigint() >= deadline) break;
      sleep(2);
    }
    if (off === 0) return false; // nothing of it went out: a clean drop
    this.pending = buf.subarray(off); // part of the line went out: finish it next time
    return true;
  }

  close(): void {
    if (this.owned) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
    }
    this.broken = true;
  }
}

/** Bytes queued on the IPC channel beyond which a line is not added (the daemon is not reading). */
const IPC_BACKLOG = 1 << 20;

/**
 * Lines handed to PM2's replacement of process.stdout/stderr's `write` in its cluster workers (PM2
 * sends them to its daemon and its log files itself), looked up at each line: PM2 replaces it after
 * the preload. `fd`: where lines go while the channel is down (a fatal line also while it is backed up).
 */
class Pm2Writer implements LineWriter {
  readonly kind = 'fd';
  constructor(
    private readonly stream: 'stdout' | 'stderr',
    private readonly fd: LineWriter | undefined,
  ) {}
  write(line: string, fatal = false): boolean {
    const channel = (process as { channel?: { writeQueueSize?: number } }).channel;
    if (process.connected !== true || !Object.hasOwn(process[this.stream], 'write')) return this.fd?.write(line, fatal) ?? false;
    if (fatal && this.stream === 'stderr' && this.crashLine(line)) return true;
    if ((channel?.writeQueueSize ?? 0) > IPC_BACKLOG) {
      if (fatal) return this.fd?.write(line, fatal) ?? false;
      countDropped('log');
      return false;
    }
    try {
      process[this.stream].write(line);
      return true;
    } catch {
      countDropped('log');
      return false;
    }
  }
  /**
   * The line of a reset the worker crashes on, as PM2's write would pass it on, but appended to the
   * app's error log at once: through PM2's stream (asynchronous) it went first in the queue, and
   * PM2's own report of the crash, written behind it, was lost at its process.exit(). False where
   * PM2 keeps no error log file.
   */
  private crashLine(line: string): boolean {
    const file = process.env.pm_err_log_path;
    if (file === undefined || file === '' || file === '/dev/null' || file.toUpperCase() === 'NULL') return false;
    try {
      fs.appendFileSync(file, line);
    } catch {
      return false;
    }
    try {
      process.send?.({ type: 'log:err', topic: 'log:err', data: line }); // `pm2 logs`
    } catch {
      /* the channel closed meanwhile: the file has it */
    }
    return true;
  }

  close(): void {
    this.fd?.close();
  }
}

/** Opens the destination named by RESETWATCH_LOG (`stderr`, `stdout` or a path). */
export function openWriter(dest: string): LineWriter | undefined {
  if (dest === 'stderr' || dest === 'stdout') {
    if (pm2ClusterWorker()) return new Pm2Writer(dest, openFd(dest));
    return openFd(dest);
  }
  return openFile(dest);
}

/** stdout or stderr, by its kind (the header). */
function openFd(dest: 'stderr' | 'stdout'): LineWriter | undefined {
  const fd = dest === 'stderr' ? 2 : 1;
  // bigint: a plain fstatSync leaves the pipe's mode in the stat buffer that fs.realpathSync
  // reads back for path components the module loader has cached; a FIFO or socket mode there
  // stops realpath early and a pnpm package can no longer find its siblings (see
  // test/shapes-layouts.test.mjs). The bigint variant writes a buffer realpath never reads;
  // test/shapes-stat.test.mjs checks every stat of the agent and its dependencies for this.
  let stat: fs.BigIntStats;
  try {
    stat = fs.fstatSync(fd, { bigint: true });
  } catch {
    return undefined; // closed: nothing to write to
  }
  if (stat.isFIFO() && process.platform === 'linux') {
    try {
      const own = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      return new FdWriter(own, 'pipe', true);
    } catch {
      // no /proc (or not readable): the app's fd, as for a socket
    }
  }
  if (stat.isFIFO() || stat.isSocket()) {
    // A socket cannot be reopened through /proc. Node sets O_NONBLOCK on a pipe or socket when it
    // makes process.stdout/stderr for it (for stderr at the first socket it destroys, for stdout
    // at the app's first console.log; it restores the flags at exit): that stream is made before
    // the first line, so a destination nobody reads returns EAGAIN (a dropped line) instead of
    // blocking the app. It is only made, never written to: its write errors (EPIPE) would be
    // emitted on a stream the app may not listen on.
    return new FdWriter(fd, 'fd', false, () => {
      void (fd === 1 ? process.stdout : process.stderr);
    });
  }
  return new FdWriter(fd, 'fd', false);
}

/**
 * `mkdir -p`, bounded by the path's depth. Not `mkdirSync(dir, { recursive: true })`: on Node 20 that
 * loops for ever, on the main thread, where a directory cannot be made under an existing one
 * (/proc/nonexistent: ENOENT although /proc exists): RESETWATCH_LOG=/proc/x/resets.log hung the app.
 */
function makeDirs(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDirs(parent);
    try {
      fs.mkdirSync(dir); // ENOENT again (procfs): thrown to the caller, which says so
    } catch (again) {
      // Made meanwhile by another process (cluster workers starting together): there it is.
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}

/** A file path, opened for appending. */
function openFile(dest: string): LineWriter | undefined {
  try {
    makeDirs(path.dirname(path.resolve(dest)));
    const fd = fs.openSync(dest, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NONBLOCK, 0o644);
    return new FdWriter(fd, 'file', true);
  } catch (err) {
    diag('warn', `RESETWATCH_LOG=${JSON.stringify(dest)} cannot be opened (${(err as Error).message}); reset log lines are off`);
    return undefined;
  }
}
