#!/usr/bin/env node
// Micro-measurement: heap bytes per idle accepted socket, and where they go.
//   node bench/micro-socketmem.js [--n=10000] [--rounds=5] [--agents=DIR,DIR] [--scrape] [--snapshot]
// Each round starts, in turn, one server process per variant (A: no agent; for each agent build
// DIR: B, `--require DIR/dist/agent/index.js`, and Bd, the same with RESETWATCH_DISABLED=1), each
// holding N idle loopback connections opened by a client in another process (the bench's
// idle-sockets scenario: the same accept callback with an 'error' listener, 500 warm-up
// connections first). The server reads heapUsed after three gc() passes before and after; the
// figure is (after − before) / N, median over the rounds, minus A's of the same round.
// The agent runs with RESETWATCH_PORT=off (no endpoint, nothing on stderr: the agent's per-socket
// cost alone), or with --scrape as in the bench: its endpoint on a free port, asked for /healthz
// and scraped once over a kept-alive connection before the warm-up (bench/lib/receiver.js), so
// that the endpoint's HTTP connections are among the process's first sockets, as there.
// --snapshot: one more server per variant writes a heap snapshot with the connections up, and the
// bytes per socket are split by what holds them (the socket object, its property backing store,
// its _events and that object's dictionary, the state under the agent's Symbol and what only it
// holds, everything else).
'use strict';
const { spawn, fork } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');

const WARM = 500;

if (process.argv[2] === '--server') server();
else main();

function server() {
  // The bench's bench/apps/idle-server.js, with gc() and the snapshot here.
  const n = Number(process.argv[3]);
  const snapshot = process.argv[4];
  let connections = 0;
  const onError = () => {};
  const srv = net.createServer((socket) => {
    connections++;
    socket.on('error', onError);
  });
  const gc = () => {
    for (let i = 0; i < 3; i++) global.gc();
  };
  const waitFor = (count, then) => {
    const t = setInterval(() => {
      if (connections < count) return;
      clearInterval(t);
      setTimeout(then, 200);
    }, 20);
  };
  srv.listen(0, '127.0.0.1', 4096, () => {
    process.send({ port: srv.address().port });
    waitFor(WARM, () => {
      process.send({ warm: true });
    });
  });
  process.on('message', (m) => {
    if (m === 'base') {
      gc();
      const base = process.memoryUsage().heapUsed;
      if (snapshot) require('node:v8').writeHeapSnapshot(`${snapshot}.base`);
      process.send({ base });
    } else if (m === 'after') {
      waitFor(WARM + n, () => {
        gc();
        const after = process.memoryUsage().heapUsed;
        if (snapshot) require('node:v8').writeHeapSnapshot(snapshot);
        process.send({ after });
      });
    }
  });
}

function args() {
  const out = { n: 10000, rounds: 5, agents: path.join(__dirname, '..'), snapshot: false, scrape: false };
  for (const a of process.argv.slice(2)) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (m) out[m[1]] = m[2] === undefined ? true : m[1] === 'agents' ? m[2] : Number(m[2]);
  }
  out.agents = String(out.agents)
    .split(',')
    .map((d) => path.resolve(d));
  return out;
}

function variants(agents, scrape) {
  const list = [{ id: 'A', execArgv: [], env: {} }];
  agents.forEach((dir, i) => {
    const tag = agents.length > 1 ? `${i}` : '';
    const execArgv = ['--require', path.join(dir, 'dist', 'agent', 'index.js')];
    const env = { RESETWATCH_PORT: 'off', RESETWATCH_LOG: 'off' };
    list.push({ id: `B${tag}`, dir, execArgv, env, scrape });
    list.push({ id: `Bd${tag}`, dir, execArgv, env: { ...env, RESETWATCH_DISABLED: '1' } });
  });
  return list;
}

function once(child, key) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m && m[key] !== undefined) {
        child.off('message', onMessage);
        resolve(m[key]);
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`server exited ${code} waiting for ${key}`)));
  });
}

function clients(port, count) {
  const c = spawn(process.execPath, [path.join(__dirname, 'load', 'idle-clients.js'), `--port=${port}`, `--count=${count}`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const stop = () =>
    new Promise((resolve) => {
      if (c.exitCode !== null) return resolve();
      c.once('exit', resolve);
      c.stdin.end();
    });
  return { stop };
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function get(port, agent, where) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: where, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}

async function run(v, n, snapshot) {
  const metricsPort = v.scrape ? await freePort() : undefined;
  const child = fork(__filename, ['--server', String(n), snapshot ?? ''], {
    execArgv: ['--expose-gc', ...v.execArgv],
    // As in the bench: the log to a file (bench/lib/variants.js).
    env: {
      ...process.env,
      ...v.env,
      ...(metricsPort
        ? { RESETWATCH_PORT: String(metricsPort), RESETWATCH_LOG: path.join(os.tmpdir(), `socketmem-${metricsPort}.log`) }
        : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const scraper = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const port = await once(child, 'port');
    if (metricsPort) {
      while ((await get(metricsPort, false, '/healthz')) !== 200) await new Promise((r) => setTimeout(r, 10));
      await get(metricsPort, scraper, '/metrics');
    }
    const warm = clients(port, WARM);
    await once(child, 'warm');
    await warm.stop();
    await new Promise((r) => setTimeout(r, 300));
    child.send('base');
    const base = await once(child, 'base');
    const load = clients(port, n);
    child.send('after');
    const after = await once(child, 'after');
    await load.stop();
    return (after - base) / n;
  } finally {
    scraper.destroy();
    child.kill();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const o = args();
  const vs = variants(o.agents, o.scrape);
  const per = Object.fromEntries(vs.map((v) => [v.id, []]));
  for (let r = 0; r < o.rounds; r++) {
    for (const v of vs) per[v.id].push(await run(v, o.n));
  }
  console.log(
    `Node ${process.version}, ${o.n} idle accepted sockets, ${o.rounds} interleaved rounds${o.scrape ? ', B scraped first' : ''}: heap bytes per socket after gc()`,
  );
  for (const v of vs) {
    const d = per[v.id].map((x, i) => x - per.A[i]);
    const extra = v.id === 'A' ? '' : `  X−A median ${median(d).toFixed(0)} (${Math.min(...d).toFixed(0)}…${Math.max(...d).toFixed(0)})`;
    console.log(`  ${v.id.padEnd(4)} ${median(per[v.id]).toFixed(0).padStart(5)}${extra}${v.dir ? `  ${v.dir}` : ''}`);
  }
  if (!o.snapshot) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'socketmem-'));
  const parts = {};
  const wholes = {};
  for (const v of vs.filter((x) => x.id[1] !== 'd')) {
    const file = path.join(dir, `${v.id}.heapsnapshot`);
    await run(v, o.n, file);
    const b = breakdown(JSON.parse(fs.readFileSync(file, 'utf8')));
    const b0 = breakdown(JSON.parse(fs.readFileSync(`${file}.base`, 'utf8')));
    parts[v.id] = b.parts;
    wholes[v.id] = {};
    for (const k of new Set([...Object.keys(b.whole), ...Object.keys(b0.whole)]))
      wholes[v.id][k] = ((b.whole[k] ?? 0) - (b0.whole[k] ?? 0)) / o.n;
    fs.rmSync(file);
    fs.rmSync(`${file}.base`);
  }
  fs.rmSync(dir, { recursive: true });
  console.log('\nHeap snapshot, bytes per socket (mean over the accepted sockets), by what holds them:');
  const keys = [...new Set(Object.values(parts).flatMap((p) => Object.keys(p)))];
  console.log(
    `  ${'part'.padEnd(44)}${Object.keys(parts)
      .map((k) => k.padStart(8))
      .join('')}`,
  );
  for (const k of keys)
    console.log(
      `  ${k.padEnd(44)}${Object.values(parts)
        .map((p) => (p[k] ?? 0).toFixed(1).padStart(8))
        .join('')}`,
    );
  console.log('\nWhole heap by node type and name, (after − before) / N, where a variant differs from A by ≥ 2 (A, then X − A):');
  const all = [...new Set(Object.values(wholes).flatMap((w) => Object.keys(w)))];
  for (const k of all) {
    const row = Object.values(wholes).map((w) => (w[k] ?? 0) - (wholes.A[k] ?? 0));
    if (row.some((d) => Math.abs(d) >= 2))
      console.log(
        `  ${k.padEnd(44)}${Object.values(wholes)
          .map((w, i) => (i === 0 ? (w[k] ?? 0) : row[i]).toFixed(1).padStart(8))
          .join('')}`,
      );
  }
}

/**
 * Splits a heap snapshot's bytes per server socket (net Socket objects with a `server` edge):
 * the socket object, its out-of-object property store, `_events` (object, dictionary, listener
 * arrays), the agent's state under its Symbol (and what only it holds: boxed numbers), and the
 * socket's other direct children by node type.
 */
function breakdown(snap) {
  const m = snap.snapshot.meta;
  const NF = m.node_fields.length;
  const EF = m.edge_fields.length;
  const nodeTypes = m.node_types[0];
  const edgeTypes = m.edge_types[0];
  const { nodes, edges, strings } = snap;
  const T = m.node_fields.indexOf('type');
  const N = m.node_fields.indexOf('name');
  const S = m.node_fields.indexOf('self_size');
  const C = m.node_fields.indexOf('edge_count');
  const ET = m.edge_fields.indexOf('type');
  const EN = m.edge_fields.indexOf('name_or_index');
  const TO = m.edge_fields.indexOf('to_node');
  const firstEdge = new Uint32Array(nodes.length / NF + 1);
  for (let i = 0, e = 0; i < nodes.length / NF; i++) {
    firstEdge[i] = e;
    e += nodes[i * NF + C] * EF;
  }
  firstEdge[nodes.length / NF] = edges.length;
  const edgesOf = (node) => {
    const i = node / NF;
    const out = [];
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
      const type = edgeTypes[edges[e + ET]];
      const name = type === 'element' || type === 'hidden' ? edges[e + EN] : strings[edges[e + EN]];
      out.push({ type, name, to: edges[e + TO] });
    }
    return out;
  };
  const name = (node) => strings[nodes[node + N]];
  const type = (node) => nodeTypes[nodes[node + T]];
  const size = (node) => nodes[node + S];
  // Incoming edge counts: a child counted as "only held by X" has exactly one retainer.
  const refs = new Uint32Array(nodes.length / NF);
  for (let e = 0; e < edges.length; e += EF) refs[edges[e + TO] / NF]++;
  const sockets = [];
  for (let node = 0; node < nodes.length; node += NF) {
    if (type(node) !== 'object' || name(node) !== 'Socket') continue;
    const es = edgesOf(node);
    const srv = es.find((e) => e.name === 'server' || e.name === '_server');
    if (srv && type(srv.to) === 'object' && name(srv.to) === 'Server') sockets.push({ node, es });
  }
  const total = {};
  const add = (k, v) => {
    total[k] = (total[k] ?? 0) + v;
  };
  for (const { node, es } of sockets) {
    add('Socket object', size(node));
    for (const e of es) {
      const to = e.to;
      if (e.name === 'properties' && e.type === 'internal') add('Socket property store', size(to));
      else if (e.name === '_events') {
        add('_events object', size(to));
        for (const f of edgesOf(to)) {
          if (f.name === 'properties' && f.type === 'internal') add('_events dictionary', size(f.to));
          else if (type(f.to) === 'array' || (type(f.to) === 'object' && name(f.to) === 'Array' && refs[f.to / NF] === 1))
            add('_events listener arrays', size(f.to));
        }
      } else if (/resetwatch\.state/.test(String(e.name))) {
        add('state object (SocketState)', size(to));
        for (const f of edgesOf(to)) {
          if (f.type === 'internal' || f.name === 'map' || f.name === '__proto__') continue;
          if (refs[f.to / NF] === 1) add(`state: only-held ${type(f.to)} (${f.name})`, size(f.to));
        }
      }
    }
  }
  const out = {};
  for (const [k, v] of Object.entries(total)) out[k] = v / sockets.length;
  out['sockets found'] = sockets.length;
  // The whole heap by node type and name: what the parts above miss shows in a difference.
  const whole = {};
  for (let node = 0; node < nodes.length; node += NF) {
    const k = `${type(node)} ${type(node) === 'object' || type(node) === 'closure' || type(node) === 'hidden' || type(node) === 'array' ? name(node).slice(0, 40) : ''}`;
    whole[k] = (whole[k] ?? 0) + size(node);
  }
  return { parts: out, whole };
}
