// The metrics endpoint under ordinary and hostile input: routes and status codes, /resets content,
// bearer token, huge headers, slow clients, many concurrent scrapes, a port already in use — and the
// app keeps serving its own traffic and exits exactly when it would without the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startApp, rawRequest, getText, parseExposition, sumOf, freePort, ROOT, NODE } from './helpers/prometheus.mjs';
import { withAndWithout, fixture, describeRun } from './helpers/subprocess.mjs';

let appRequests = 0;
/** One request to the app's own server, on a fresh connection (so its connections can be counted). */
async function appAlive(appPort) {
  appRequests++;
  const r = await rawRequest(appPort, { path: '/' });
  assert.equal(r.body, 'pong', 'the app answers its own traffic');
}

test('routes: /metrics, /resets, /healthz; 404 for other paths, 405 for other methods', async (t) => {
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established,server_response', PROM_APP_SERVE: '1' });
  t.after(() => app.stop());
  const { port, done } = await app.ready;

  const health = await rawRequest(port, { path: '/healthz' });
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok\n');

  const metrics = await rawRequest(port, { path: '/metrics' });
  assert.equal(metrics.status, 200);
  assert.equal(sumOf(parseExposition(metrics.body), 'resetwatch_resets_total'), 2);

  const head = await rawRequest(port, { method: 'HEAD', path: '/metrics' });
  assert.equal(head.status, 200);
  assert.equal(head.body, '');

  for (const p of ['/', '/metrics/', '/metricsx', '/../metrics', '/favicon.ico', '*', 'http://127.0.0.1/', 'ftp://h/metrics']) {
    assert.equal((await rawRequest(port, { path: p })).status, 404, p);
  }
  // The absolute form (a client behind a forward proxy): a server must accept it (RFC 9112 3.2.2).
  for (const p of [`http://127.0.0.1:${port}/healthz`, `HTTP://localhost/healthz?x=1`]) {
    const r = await rawRequest(port, { path: p });
    assert.equal(r.status, 200, p);
    assert.equal(r.body, 'ok\n', p);
  }
  assert.equal((await rawRequest(port, { path: `http://127.0.0.1:${port}/metrics` })).status, 200);
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
    const r = await rawRequest(port, { method, path: '/metrics' });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }

  // /resets: newest first, every attribute, the same names as the log lines and spans.
  const resets = await rawRequest(port, { path: '/resets' });
  assert.equal(resets.status, 200);
  assert.match(resets.headers['content-type'], /^application\/json/);
  const events = JSON.parse(resets.body);
  assert.equal(events.length, 2);
  assert.deepEqual(
    events.map((e) => `${e['resetwatch.direction']}/${e['resetwatch.phase']}`),
    ['server/response', 'client/established'],
  );
  const [server, client] = events;
  assert.ok(Date.parse(server.time) >= Date.parse(client.time));
  assert.match(server.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(server['error.type'], 'ECONNRESET');
  assert.equal(server.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.match(server.span_id, /^[0-9a-f]{16}$/);
  assert.equal(server['http.request.method'], 'GET');
  assert.equal(server.pid, done.pid);
  assert.equal(client['server.address'], '127.0.0.1');
  assert.equal(typeof client['resetwatch.bytes_sent'], 'number');
  assert.equal(typeof client['resetwatch.connection.age'], 'number');

  assert.equal(JSON.parse((await rawRequest(port, { path: '/resets?limit=1' })).body).length, 1);
  assert.deepEqual(JSON.parse((await rawRequest(port, { path: '/resets?limit=0' })).body), []);
  for (const bad of ['abc', '-1', '1e3', '9999999']) {
    assert.equal((await rawRequest(port, { path: `/resets?limit=${bad}` })).status, 400, bad);
  }
  await appAlive(done.appPort);
});

test('the keep-alive race histogram has its series at 0 before any race: increase() then counts the first burst', async (t) => {
  // increase() and rate() cannot count a series' first value: a series born with a burst of races
  // hid that burst from ResetwatchKeepAliveRace (the second on-call drill: 4 events, alert value 0).
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established', PROM_APP_SERVE: '1' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  const samples = parseExposition((await rawRequest(port, { path: '/metrics' })).body);
  const counts = samples.filter((s) => s.name === 'resetwatch_reset_idle_before_reuse_seconds_count');
  assert.deepEqual(
    counts.map((s) => [s.labels.resetwatch_direction, s.labels.resetwatch_phase, s.value]),
    [
      ['client', 'request', 0],
      ['client', 'response', 0],
    ],
  );
});

test('keep-alive: a scraper reuses one connection across scrapes more than 5 s apart, as Prometheus does', async (t) => {
  // Prometheus keeps its scrape connection for up to 5 minutes idle; the endpoint keeps it open
  // longer than that, so a 15 s scrape is not a new connection each time (Node's default: 5 s).
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const scrape = () =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket, keepAlive: res.headers['keep-alive'], body }));
      });
      req.on('error', reject);
    });
  const first = await scrape();
  assert.equal(first.status, 200);
  assert.equal(first.reused, false);
  assert.match(first.keepAlive ?? '', /timeout=(\d+)/);
  assert.ok(Number(/timeout=(\d+)/.exec(first.keepAlive)[1]) > 300, `advertised ${first.keepAlive}: beyond Prometheus' 5 minutes`);
  await new Promise((r) => setTimeout(r, 6500));
  const second = await scrape();
  assert.equal(second.status, 200);
  assert.equal(second.reused, true, 'the second scrape reused the first connection');
  assert.equal(sumOf(parseExposition(second.body), 'resetwatch_resets_total'), 1);
});

test('bearer token: missing or wrong → 401 on every path; right → 200', async (t) => {
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established', RESETWATCH_METRICS_TOKEN: 's3cret-token' });
  t.after(() => app.stop());
  const { port } = await app.ready;
  for (const p of ['/metrics', '/resets', '/healthz', '/nope']) {
    const r = await rawRequest(port, { path: p });
    assert.equal(r.status, 401, p);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="resetwatch"');
    assert.doesNotMatch(r.body, /resetwatch_/);
  }
  for (const auth of ['Bearer wrong', 'Bearer s3cret-tokenX', 'Bearer s3cret', 'Basic czNjcmV0LXRva2Vu', 's3cret-token', 'Bearer ']) {
    assert.equal((await rawRequest(port, { headers: { Authorization: auth } })).status, 401, auth);
  }
  const ok = await rawRequest(port, { headers: { Authorization: 'Bearer s3cret-token' } });
  assert.equal(ok.status, 200);
  assert.equal(sumOf(parseExposition(ok.body), 'resetwatch_resets_total'), 1);
  assert.equal((await rawRequest(port, { path: '/resets', headers: { Authorization: 'bearer s3cret-token' } })).status, 200);
});

test('hostile input: huge headers, slow clients, many concurrent scrapes — clear codes, app unaffected', async (t) => {
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established', PROM_APP_SERVE: '1' });
  t.after(() => app.stop());
  const { port, done } = await app.ready;
  const serverConnections = () =>
    rawRequest(port).then((r) => sumOf(parseExposition(r.body), 'resetwatch_connections_total', { resetwatch_direction: 'server' }));
  const before = await serverConnections();
  appRequests = 0;

  // Headers beyond 8 KiB: 431, connection closed.
  const huge = await rawRequest(port, { headers: { 'X-Big': 'a'.repeat(20000) } });
  assert.equal(huge.status, 431);
  const many = await rawRequest(port, { headers: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`X-H${i}`, 'v'.repeat(30)])) });
  assert.equal(many.status, 431);
  await appAlive(done.appPort);

  // Slow clients: one silent, one that stops mid-headers, one that drips a header every 300 ms.
  // Each gets 408 and is closed within the headers timeout (5 s, a timer per connection); meanwhile
  // a normal scrape and the app are served.
  const slow = [
    slowClient(port, []),
    slowClient(port, ['GET /metrics HTTP/1.1\r\nHo']),
    slowClient(
      port,
      Array.from({ length: 60 }, (_, i) => (i === 0 ? 'GET /metrics HTTP/1.1\r\n' : `X-D${i}: v\r\n`)),
      300,
    ),
  ];
  assert.equal((await rawRequest(port)).status, 200);
  await appAlive(done.appPort);
  const results = await Promise.all(slow);
  for (const r of results) {
    assert.match(r.data, /^HTTP\/1\.1 408/, 'slow client gets 408');
    assert.ok(r.ms < 9000, `slow client closed after ${r.ms} ms`);
  }

  // Many concurrent scrapes (within the connection limit): all answered, all consistent.
  const scrapes = await Promise.all(Array.from({ length: 40 }, () => getText(`http://127.0.0.1:${port}/metrics`)));
  for (const s of scrapes) {
    assert.equal(s.status, 200);
    assert.equal(sumOf(parseExposition(s.body), 'resetwatch_resets_total'), 1);
  }
  // More connections than the limit (64): the excess is closed at once, nothing crashes, and once
  // they are gone the endpoint answers again.
  const flood = await Promise.all(Array.from({ length: 100 }, () => openSocket(port)));
  await appAlive(done.appPort);
  for (const s of flood) s.destroy();
  // Answered again once the app's process has read those closes (a loaded host takes longer):
  // asked every 100 ms for 5 s; a limit that never frees its slots still fails.
  let health;
  for (let until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    health = await rawRequest(port, { path: '/healthz' }).catch((err) => ({ status: err.code }));
    if (health.status === 200) break;
  }
  assert.equal(health.status, 200);

  // The app never saw any of it: its own reset is still the only one, and no agent error.
  const samples = parseExposition((await rawRequest(port)).body);
  assert.equal(sumOf(samples, 'resetwatch_resets_total'), 1);
  assert.equal(sumOf(samples, 'resetwatch_agent_errors_total'), 0);
  // The endpoint's own connections are not counted as the app's: only the app's own requests are.
  assert.equal(sumOf(samples, 'resetwatch_connections_total', { resetwatch_direction: 'server' }), before + appRequests);
  await appAlive(done.appPort);
});

test('port already in use: a short-lived process says nothing; a long-lived one one warning line after 5 s; both run on and exit normally', async (t) => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => blocker.close());
  const taken = blocker.address().port;
  // A script or health check under the same NODE_OPTIONS, in another session than the service.
  const short = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established', PROM_APP_EXIT: '1', RESETWATCH_PORT: String(taken) });
  const { done } = await short.ready;
  assert.equal(done.events.length, 1);
  assert.equal((await short.exit).code, 0);
  assert.equal(short.stderr(), '');
  const long = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established', RESETWATCH_PORT: String(taken) });
  t.after(() => long.stop());
  const started = Date.now();
  await long.ready;
  while (!long.stderr().includes('already in use') && Date.now() - started < 15000) await new Promise((r) => setTimeout(r, 100));
  const waited = Date.now() - started;
  assert.ok(waited >= 4500, `said after ${waited} ms`);
  const { code } = await long.stop();
  assert.equal(code, 0);
  const lines = long.stderr().split('\n').filter(Boolean);
  assert.equal(lines.length, 1, long.stderr());
  assert.match(
    lines[0],
    new RegExp(`^resetwatch: metrics endpoint not started: 127\\.0\\.0\\.1:${taken} is already in use .*RESETWATCH_PORT`),
  );
});

test("the agent's own failures are visible: counted, one line, 500 from a failing endpoint", async (t) => {
  // A failure in the core's error path: the reset is lost, but counted and said once.
  const app = startApp('prom-app.cjs', {
    PROM_APP_SCENARIOS: 'established,connect',
    PROM_APP_WAIT_MS: '200',
    RESETWATCH_FAULT_INJECT: 'socket.error',
  });
  t.after(() => app.stop());
  const { port, done } = await app.ready;
  assert.equal(done.events.length, 0);
  const samples = parseExposition((await rawRequest(port)).body);
  assert.equal(sumOf(samples, 'resetwatch_agent_errors_total'), 2);
  assert.match(app.stderr(), /internal error in socket\.error/);
  // A failure in the endpoint's request handler: a clear 500, never a hung request.
  const broken = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'connect', RESETWATCH_FAULT_INJECT: 'prometheus.request' });
  t.after(() => broken.stop());
  const b = await broken.ready;
  assert.equal((await rawRequest(b.port)).status, 500);
  assert.equal((await rawRequest(b.port, { path: '/healthz' })).status, 500);
});

test('RESETWATCH_PORT=off: no endpoint, no message', async () => {
  const app = startApp('prom-app.cjs', { PROM_APP_SCENARIOS: 'established', PROM_APP_EXIT: '1', RESETWATCH_PORT: 'off' });
  await app.ready;
  assert.equal((await app.exit).code, 0);
  assert.equal(app.stderr(), '');
});

test('the endpoint never keeps the process alive, even with a scrape connection open', async () => {
  // Default port: `node --require resetwatch -e 1` exits at once.
  const plain = await run(['--require', 'resetwatch', '-e', '1'], {});
  assert.equal(plain.code, 0);
  // Silent, unless another process already holds 9465 (then exactly the one in-use line).
  assert.match(plain.stderr, /^(|resetwatch: metrics endpoint not started: 127\.0\.0\.1:9465 is already in use[^\n]*\n)$/);
  // Port 0 and a client holding a half-sent request: the app's 800 ms timer ends it, not the agent.
  const child = spawn(NODE, ['--require', 'resetwatch', '-e', "require('node:net'); setTimeout(() => {}, 800)"], {
    cwd: ROOT,
    env: { ...process.env, RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 15000);
  let err = '';
  let held;
  let heldGot = '';
  child.stderr.on('data', (d) => {
    err += d;
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
    if (m && !held) {
      held = net.connect(Number(m[1]), '127.0.0.1', () => held.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'));
      held.on('data', (d) => {
        heldGot += d;
      });
      held.on('error', () => {});
    }
  });
  const started = Date.now();
  const [code, signal] = await new Promise((r) => child.on('exit', (c, s) => r([c, s])));
  clearTimeout(killer);
  held?.destroy();
  assert.ok(held, 'connected to the endpoint');
  assert.equal(signal, null, 'exited by itself');
  assert.equal(code, 0);
  // The process ended while the half-sent request was still open: had the connection held it,
  // it would have lived until the endpoint's 408 (headers timeout, 5 s).
  assert.equal(heldGot, '', `the endpoint answered before the app exited (${Date.now() - started} ms)`);
});

function slowClient(port, chunks, everyMs = 0) {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    let i = 0;
    let timer;
    s.setEncoding('latin1');
    s.on('connect', () => {
      if (chunks.length === 0) return;
      s.write(chunks[i++]);
      if (everyMs)
        timer = setInterval(() => {
          if (i < chunks.length && !s.destroyed) s.write(chunks[i++]);
        }, everyMs);
    });
    s.on('data', (d) => {
      data += d;
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      resolve({ data, ms: Date.now() - started });
    });
    setTimeout(() => s.destroy(), 15000).unref();
  });
}

function openSocket(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => resolve(s));
    s.on('close', () => resolve(s));
  });
}

function run(args, env) {
  return new Promise((resolve) => {
    const child = spawn(NODE, args, {
      cwd: ROOT,
      env: { ...process.env, RESETWATCH_LOG: 'off', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 15000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stderr, stdout });
    });
  });
}

test("an app's own /metrics can take resetwatch's registry; the app's default registry is never touched", async (t) => {
  const app = startApp('prom-registry.cjs', {});
  t.after(() => app.stop());
  const { done, port } = await app.ready;
  assert.equal(done.isRegistry, true);
  // The default registry holds only the app's metric: resetwatch registered nothing there.
  // (prom-client's OpenMetrics rendering renamed the app's counter in place: app_requests.)
  assert.equal(done.defaultNames.length, 1);
  assert.match(done.defaultNames[0], /^app_requests/);
  assert.match(
    done.text,
    /^resetwatch_resets_total\{resetwatch_direction="client",resetwatch_phase="established",error_type="ECONNRESET",resetwatch_protocol="unknown",tls_established="false",server_address="127\.0\.0\.1",server_port="\d+"\} 1$/m,
  );
  assert.match(done.text, /^app_requests_total 1$/m);
  assert.match(done.om, /^resetwatch_resets_total\{/m);
  // The app rendered our registry as OpenMetrics (prom-client renames counters in place):
  // resetwatch's own endpoint still serves the contract names in both formats.
  const text = await getText(`http://127.0.0.1:${port}/metrics`);
  assert.match(text.body, /^# TYPE resetwatch_resets_total counter$/m);
  assert.match(text.body, /^resetwatch_resets_total\{/m);
  assert.match(text.body, /^resetwatch_agent_errors_total 0$/m);
  const om = await getText(`http://127.0.0.1:${port}/metrics`, { Accept: 'application/openmetrics-text' });
  assert.match(om.body, /^# TYPE resetwatch_resets counter$/m);
  assert.match(om.body, /^resetwatch_resets_total\{/m);
  assert.doesNotMatch(om.body, /_total_total/);
});

test('agent.stop() closes the endpoint', async () => {
  const port = await freePort();
  const script = `
    const net = require('node:net');
    const { agent } = require('resetwatch');
    const probe = (port) => new Promise((r) => { const c = net.connect(port, '127.0.0.1'); c.on('connect', () => { c.destroy(); r('open'); }); c.on('error', (e) => r(e.code)); });
    setTimeout(async () => {
      const port = ${port};
      const before = await probe(port);
      agent.stop();
      await new Promise((r) => setTimeout(r, 50));
      console.log(JSON.stringify({ before, after: await probe(port) }));
    }, 300);`;
  const r = await run(['--require', 'resetwatch', '-e', script], { RESETWATCH_PORT: String(port) });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { before: 'open', after: 'ECONNREFUSED' });
});

test("binding the endpoint's IP address looks nothing up (an APM's dns instrumentation traced it as the app's span); a host name is looked up", async (t) => {
  // What dd-trace and OpenTelemetry's dns instrumentation do: wrap dns.lookup. Node's listen()
  // calls it for any host, an IP address too.
  const counter = [
    "const dns = require('node:dns'); const lookup = dns.lookup; const seen = [];",
    'dns.lookup = function (host, ...rest) { seen.push(host); return lookup.call(this, host, ...rest); };',
    'setTimeout(() => console.log(JSON.stringify(seen)), 400).unref(); setTimeout(() => {}, 600);',
  ].join('\n');
  const preload = path.join(tmpdir(), `rw-dns-${process.pid}.cjs`);
  writeFileSync(preload, counter);
  t.after(() => rmSync(preload, { force: true }));
  for (const [host, expected] of [
    ['127.0.0.1', []],
    ['::1', []],
    ['localhost', ['localhost']],
  ]) {
    const port = await freePort();
    const env = { RESETWATCH_HOST: host, RESETWATCH_PORT: String(port), RESETWATCH_LOG_LEVEL: 'off' };
    const out = await run(['--require', preload, '--require', 'resetwatch', '-e', "require('node:net')"], env);
    assert.deepEqual(JSON.parse(out.stdout.trim()), expected, `${host}: ${out.stderr}`);
  }
});

const SHAPES = [
  ['the app itself, half a second after it starts', { OWN_PORT_PROBE: '1' }, 'closed'],
  [
    'the app itself, at once and on a host name (its bind waits for a DNS look-up)',
    { OWN_PORT_PROBE: '1', OWN_PORT_HOST: 'localhost' },
    'not started',
  ],
  [
    'the app itself, at once and on a host name, the agent restarted (stop(), start()) while it looks up',
    { OWN_PORT_PROBE: '1', OWN_PORT_HOST: 'localhost', OWN_PORT_RESTART: '1' },
    'not started',
  ],
  ['a cluster worker (its primary binds the port)', { OWN_PORT_CLUSTER: '1' }, 'closed'],
];
for (const [shape, shapeEnv, said] of SHAPES) {
  test(`${shape} listens on the endpoint's port: the app comes first (one line), serves and exits as without the agent; the endpoint comes back once the port is free`, async () => {
    const port = await freePort();
    const cluster = shapeEnv.OWN_PORT_CLUSTER === '1';
    const env = { APP_PORT: String(port), ...shapeEnv };
    const { plain, agent } = await withAndWithout([fixture('app-own-port.cjs')], { env, agentEnv: { RESETWATCH_PORT: String(port) } });
    for (const r of [plain, agent]) assert.equal(r.code, 0, describeRun(r));
    const served = cluster
      ? 'worker: app listening; /metrics answered: 200 the app\nworker: app closed its server\nworker exited 0\n'
      : 'app listening; /metrics answered: 200 the app\napp closed its server\n';
    assert.equal(plain.stdout, cluster ? served : `${served}4 s later: ECONNREFUSED\n`, describeRun(plain));
    // Without the agent nothing answers once the app closed its server; with it, the endpoint is back.
    assert.equal(agent.stdout, cluster ? served : `${served}4 s later: 200 resetwatch metrics\n`, describeRun(agent));
    assert.equal(plain.stderr, '');
    const lines = agent.stderr.split('\n').filter(Boolean);
    assert.match(
      lines[0] ?? '',
      new RegExp(
        `^resetwatch: metrics endpoint on 127\\.0\\.0\\.1:${port} ${said}: the app listens on port ${port} itself.*RESETWATCH_PORT`,
      ),
      agent.stderr,
    );
    // A cluster's primary may exit before the endpoint tries the port again.
    const back = `resetwatch: metrics endpoint listening on http://127.0.0.1:${port}/metrics: the port is free now`;
    assert.deepEqual(lines.slice(1), cluster ? lines.slice(1, 2).filter((l) => l === back) : [back], agent.stderr);
  });
}

test('the endpoint on IPv6 loopback, however spelled ([::1], 0:0:0:0:0:0:0:1): it serves there, with no "reachable beyond loopback" line', async () => {
  // A trial of IPv6: `[::1]` passed the config check and then never listened (getaddrinfo
  // ENOTFOUND [::1]); the long form drew the warning meant for a public address.
  for (const host of ['[::1]', '0:0:0:0:0:0:0:1']) {
    const port = await freePort();
    const app = "require('node:net'); setTimeout(() => {}, 1500)";
    const env = { RESETWATCH_HOST: host, RESETWATCH_PORT: String(port) };
    const [out, status] = await Promise.all([
      run(['--require', 'resetwatch', '-e', app], env),
      (async () => {
        for (let i = 0; i < 40; i++) {
          const r = await new Promise((res) => {
            const req = http.get({ host: '::1', port, path: '/healthz' }, (m) => {
              m.resume();
              res(m.statusCode);
            });
            req.on('error', () => res(undefined));
          });
          if (r !== undefined) return r;
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
    ]);
    assert.equal(status, 200, `${host}: ${out.stderr}`);
    assert.equal(out.stderr, '', host);
  }
});
