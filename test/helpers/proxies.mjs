// Real proxies for tests: a private nginx or HAProxy in front of a test's upstream (its own config,
// logs and pid in a temporary directory, on a free loopback port), and a forward proxy, tinyproxy,
// in front of the client; each stopped by the test.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { freePort } from './prometheus.mjs';

/** Resolves once something accepts connections on 127.0.0.1:port (or rejects after `ms`). */
export async function waitForPort(port, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      // A listener that resets every connection it accepts (HAProxy's tcp-request connection reject) listens.
      s.on('error', (err) => resolve(err.code === 'ECONNRESET'));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * nginx as one process (`master_process off`, so SIGSTOP/SIGCONT reach the process that does the
 * work), proxying everything to 127.0.0.1:upstreamPort over HTTP/1.1 keep-alive connections
 * (`keepalive` in the upstream block; `keepalive_timeout` there is nginx's idle time for them,
 * 60 s by default). The listener uses `deferred` (TCP_DEFER_ACCEPT) so a request that arrives
 * while nginx is stopped is read in the same event-loop turn as its accept. `extra` goes into the
 * `location` block. Returns { port, dir, pid, errorLog(), accessLog(), stop() }.
 */
export async function startNginx({ upstreamPort, extra = '', upstreamScheme = 'http' }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-nginx-'));
  const port = await freePort();
  const conf = `
worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  log_format upstreams '"$request" $status upstream_addr=$upstream_addr upstream_status=$upstream_status';
  access_log ${dir}/access.log upstreams;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 4;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} deferred;
    location / {
      proxy_pass ${upstreamScheme}://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${extra}
    }
  }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const errorLog = () => readFileSync(path.join(dir, 'error.log'), 'utf8');
  const stop = await running(child, port, dir, 'nginx', errorLog, ['SIGCONT', 'SIGQUIT']);
  return {
    port,
    dir,
    pid: child.pid,
    errorLog,
    /** Access log lines: `"<request line>" <status> upstream_addr=<…> upstream_status=<…>`. */
    accessLog: () => readFileSync(path.join(dir, 'access.log'), 'utf8'),
    stop,
  };
}

/**
 * HAProxy in the foreground (`-db`), in HTTP mode, proxying everything to 127.0.0.1:upstreamPort
 * with its defaults but for the timeouts (`timeouts`: connect, client, server, check, http-keep-alive). `frontend`
 * and `backend` are extra lines for those sections, `serverOptions` for the server line (`check`).
 * Its log (a line per request, `option httplog`: the status and the termination state, e.g. `sH--`
 * for a server timeout; the server's state changes) goes to its stderr, kept here. Returns
 * { port, pid, log(), stop() }.
 */
export async function startHaproxy({ upstreamPort, timeouts = {}, frontend = '', backend = '', serverOptions = '' }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-haproxy-'));
  const port = await freePort();
  const t = { connect: '2s', client: '10s', server: '10s', check: '2s', 'http-keep-alive': '10s', ...timeouts };
  const conf = `
global
  log stderr format raw local0 info
defaults
  mode http
  log global
  option httplog
  timeout connect ${t.connect}
  timeout client ${t.client}
  timeout server ${t.server}
  timeout check ${t.check}
  timeout http-keep-alive ${t['http-keep-alive']}
frontend fe
  bind 127.0.0.1:${port}
  ${frontend}
  default_backend app
backend app
  ${backend}
  server app 127.0.0.1:${upstreamPort} ${serverOptions}
`;
  writeFileSync(path.join(dir, 'haproxy.cfg'), conf);
  const child = spawn('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (log += d));
  const stop = await running(child, port, dir, 'haproxy', () => log);
  return { port, pid: child.pid, log: () => log, stop };
}

/**
 * tinyproxy, a forward proxy (absolute-form requests and CONNECT tunnels to any port), in the
 * foreground on a free loopback port with its config and log in a temporary directory. Returns
 * { port, log(), stop() }.
 */
export async function startTinyproxy() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resetwatch-tinyproxy-'));
  chmodSync(dir, 0o777); // it drops to an unprivileged user when started as root, and logs here
  const port = await freePort();
  const conf = `Port ${port}
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 30
MaxClients 16
LogLevel Info
LogFile "${dir}/tinyproxy.log"
DisableViaHeader Yes
`;
  writeFileSync(path.join(dir, 'tinyproxy.conf'), conf);
  const child = spawn('tinyproxy', ['-d', '-c', path.join(dir, 'tinyproxy.conf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const log = () => {
    try {
      return readFileSync(path.join(dir, 'tinyproxy.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const stop = await running(child, port, dir, 'tinyproxy', log);
  return { port, log, stop };
}

/**
 * Waits until `child`, a proxy in the foreground, accepts on 127.0.0.1:port, or fails with its
 * `log()` if it exits first (killed, its directory removed, if it never listens). Returns its stop(): `signals` in turn (SIGKILL 5 s later), then its
 * directory removed.
 */
async function running(child, port, dir, name, log, signals = ['SIGTERM']) {
  const exited = once(child, 'exit');
  const failed = exited.then(([code]) => {
    throw new Error(`${name} exited ${code}: ${log()}`);
  });
  failed.catch(() => {});
  try {
    await Promise.race([waitForPort(port), failed]);
  } catch (err) {
    child.kill('SIGKILL'); // a proxy that never listened is not left running
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      for (const signal of signals) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited.catch(() => {});
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
