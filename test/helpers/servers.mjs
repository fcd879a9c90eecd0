// Private database servers for tests: PostgreSQL, MariaDB, Redis, RabbitMQ and mosquitto from their Debian packages,
// each a fresh instance in a temporary directory on a free loopback port, started by the test and
// stopped by it. Never the system's own service. Durability is off (fsync, binlog): startup is
// what a test waits for. Database servers refuse to run as root: PostgreSQL runs as `nobody`,
// MariaDB as root with --user=root (it allows that explicitly), Redis does not care, RabbitMQ runs
// as its own user `rabbitmq` with an epmd of its own (never the host's, never left behind).
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, chownSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { freePort } from './ports.mjs';
import { ROOT } from './root.mjs';

const NOBODY = { uid: 65534, gid: 65534 };

export { freePort };

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `check` (a command line) until it exits 0, or throws with the server's own output. */
async function waitReady(name, check, child, output, ms = 60000) {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output()}`);
    try {
      execFileSync(check[0], check.slice(1), { stdio: 'ignore', timeout: 5000 });
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${name} not ready within ${ms} ms:\n${output()}`);
      await delay(100);
    }
  }
}

function startProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return { child, output: () => out };
}

function stopper(child, dir) {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

function chownTree(dir, { uid, gid }) {
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, { uid, gid });
    else chownSync(p, uid, gid);
  }
}

function pgBin(name) {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (Debian package postgresql)');
  return path.join(base, versions[0], 'bin', name);
}

/**
 * A pg Pool of one connection to the test PostgreSQL on `port`, kept idle up to 60 s (longer than
 * any test), with a listener for the errors it emits about idle clients (the tests look at the events).
 */
export function pgPool(port) {
  const pg = createRequire(import.meta.url)('pg');
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1, idleTimeoutMillis: 60000 });
  pool.on('error', () => {});
  return pool;
}

/**
 * PostgreSQL (`settings`: extra `-c name=value`, e.g. { idle_session_timeout: '1s' }).
 * Resolves { port, user: 'postgres', database: 'postgres', stop }.
 */
export async function startPostgres(settings = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-pg-'));
  const data = path.join(dir, 'data');
  chownTree(dir, NOBODY);
  const asNobody = { uid: NOBODY.uid, gid: NOBODY.gid, env: { ...process.env, HOME: dir, LC_ALL: 'C' } };
  execFileSync(pgBin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'], {
    ...asNobody,
    stdio: 'pipe',
  });
  const port = await freePort();
  const conf = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    ...settings,
  };
  const args = ['-D', data, '-p', String(port)];
  for (const [k, v] of Object.entries(conf)) args.push('-c', `${k}=${v}`);
  const { child, output } = startProcess(pgBin('postgres'), args, asNobody);
  const stop = stopper(child, dir);
  try {
    await waitReady('postgres', [pgBin('pg_isready'), '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'], child, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, user: 'postgres', database: 'postgres', stop, output };
}

/**
 * PostgreSQL with SSL on, with the test certificate (test/fixtures/tls), which it wants readable
 * by its own user only: as startPostgres, its stop() removes the certificate's copy too.
 */
export async function startPostgresTls() {
  const certs = mkdtempSync(path.join(os.tmpdir(), 'rw-pg-tls-'));
  for (const f of ['cert.pem', 'key.pem']) {
    const to = path.join(certs, f);
    copyFileSync(path.join(ROOT, 'test/fixtures/tls', f), to);
    chmodSync(to, 0o600);
  }
  chownTree(certs, NOBODY);
  try {
    const db = await startPostgres({ ssl: 'on', ssl_cert_file: path.join(certs, 'cert.pem'), ssl_key_file: path.join(certs, 'key.pem') });
    return { ...db, stop: () => db.stop().finally(() => rmSync(certs, { recursive: true, force: true })) };
  } catch (err) {
    rmSync(certs, { recursive: true, force: true });
    throw err;
  }
}

/**
 * MariaDB (`settings`: extra `--name=value` server options, e.g. { wait_timeout: 1 }).
 * Resolves { port, user: 'root', stop }.
 */
export async function startMariadb(settings = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-mariadb-'));
  const data = path.join(dir, 'data');
  const common = ['--no-defaults', `--datadir=${data}`, '--user=root'];
  execFileSync('mariadb-install-db', [...common, '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'pipe' });
  const port = await freePort();
  const opts = {
    port,
    'bind-address': '127.0.0.1',
    socket: path.join(dir, 'mysqld.sock'),
    'pid-file': path.join(dir, 'mysqld.pid'),
    'skip-name-resolve': '',
    'skip-log-bin': '',
    'innodb-flush-log-at-trx-commit': 0,
    'innodb-buffer-pool-size': '16M',
    'innodb-log-file-size': '16M',
    ...settings,
  };
  const args = [...common];
  for (const [k, v] of Object.entries(opts)) args.push(v === '' ? `--${k}` : `--${k}=${v}`);
  const { child, output } = startProcess('mariadbd', args);
  const stop = stopper(child, dir);
  try {
    await waitReady(
      'mariadbd',
      ['mariadb-admin', '--no-defaults', '--protocol=tcp', '-h', '127.0.0.1', '-P', String(port), '-u', 'root', 'ping'],
      child,
      output,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, user: 'root', stop, output };
}

/** Redis (`settings`: extra config directives, e.g. { timeout: 1 }). Resolves { port, stop }. */
export async function startRedis(settings = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-redis-'));
  const port = await freePort();
  const conf = { port, bind: '127.0.0.1', dir, save: '""', appendonly: 'no', daemonize: 'no', ...settings };
  const args = [];
  for (const [k, v] of Object.entries(conf)) args.push(`--${k}`, String(v));
  const { child, output } = startProcess('redis-server', args);
  const stop = stopper(child, dir);
  try {
    await waitReady('redis-server', ['redis-cli', '-h', '127.0.0.1', '-p', String(port), 'ping'], child, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop, output };
}

/** The user Debian's rabbitmq-server package runs the broker as. */
function rabbitmqUser() {
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'rabbitmq'], { encoding: 'utf8' }).trim()));
  return { uid, gid };
}

/** Resolves once something accepts a TCP connection on `port`, or throws with the server's output. */
async function waitListening(name, port, child, output, ms = 60000) {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output()}`);
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > until) throw new Error(`${name} not listening within ${ms} ms:\n${output()}`);
    await delay(200);
  }
}

/**
 * RabbitMQ: a node of its own (name, ports, Mnesia directory) and its own epmd on a free port, as
 * the `rabbitmq` user; `guest` may log in over loopback. Resolves { port, ctl(...args), signal, stop }:
 * ctl runs rabbitmqctl against this node (e.g. ctl('close_all_connections', 'bye')).
 */
export async function startRabbitMQ() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-rabbitmq-'));
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(path.join(dir, 'rabbitmq.conf'), 'loopback_users = none\n');
  const user = rabbitmqUser();
  chownTree(dir, user);
  const node = `rw${port}@localhost`;
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_PID_FILE: path.join(dir, 'pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
  };
  // epmd in the foreground, as a child of this test: the broker's own would daemonise and outlive it.
  const epmd = startProcess('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { ...user, env });
  // The broker in a process group of its own: its shell wrapper, beam and their helpers stop together.
  const { child, output } = startProcess('/usr/lib/rabbitmq/bin/rabbitmq-server', [], { ...user, env, cwd: dir, detached: true });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 10000);
      await exited;
      clearTimeout(t);
    }
    try {
      process.kill(-child.pid, 'SIGKILL'); // what of the group outlived the wrapper
    } catch {}
    epmd.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitListening('rabbitmq-server', port, child, () => epmd.output() + output());
  } catch (err) {
    await stop();
    throw err;
  }
  const ctl = (...args) =>
    execFileSync('/usr/lib/rabbitmq/bin/rabbitmqctl', ['-n', node, ...args], { ...user, env, cwd: dir, encoding: 'utf8', timeout: 30000 });
  /** A signal to the whole broker (SIGSTOP: it freezes, as a host under memory pressure or a paused VM does). */
  const signal = (sig) => process.kill(-child.pid, sig);
  return { port, ctl, signal, stop, output };
}

/** mosquitto (MQTT), on a free loopback port. Resolves { port, stop }. */
export async function startMosquitto() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-mosquitto-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  chownTree(dir, NOBODY);
  const { child, output } = startProcess('mosquitto', ['-c', conf], { ...NOBODY });
  const stop = stopper(child, dir);
  try {
    await waitListening('mosquitto', port, child, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop, output };
}
