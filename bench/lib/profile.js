'use strict';
// Reads a V8 CPU profile of one measured window and says how much of it the agent spent.
// A sample counts for the agent when its stack holds a frame of the agent's compiled code
// (dist/agent, dist/exporters) — so pino, prom-client, OpenTelemetry or EventEmitter work the
// agent called is included — except when the deepest such frame is one of the pass-through
// wrappers around Node's own methods (Socket#connect, Socket#_destroy, TLSSocket#_init) and the
// sample is below it: that time belongs to Node's original method.
// For variant C the same is done for OpenTelemetry's packages, self time only (its wrappers call
// back into the app, so an inclusive figure would count the app).
const fs = require('node:fs');
const path = require('node:path');

const WRAPPERS = new Set(['hooks/client.js:connect', 'hooks/destroy.js:_destroy', 'hooks/tls.js:_init']);

function analyseProfile(file, ops, root) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const dist = path.join(root, 'dist') + path.sep;
  const distUrl = `file://${dist}`;
  const byId = new Map();
  const parent = new Map();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children || []) parent.set(c, n.id);
  }
  const isAgent = (n) => {
    const u = n.callFrame.url;
    return (u.startsWith(distUrl) || u.startsWith(dist)) && /[/\\]dist[/\\](agent|exporters)[/\\]/.test(u);
  };
  const isOtel = (n) => /node_modules[/\\]@opentelemetry[/\\]|otel-preload\.js/.test(n.callFrame.url);
  const short = (n) => {
    const u = n.callFrame.url.replace(/^file:\/\//, '');
    const rel = u.startsWith(root) ? path.relative(root, u) : u.replace(/^.*node_modules[/\\]/, '');
    return `${n.callFrame.functionName || '(anonymous)'} ${rel}:${n.callFrame.lineNumber + 1}`;
  };
  const wrapperKey = (n) => {
    const m = /[/\\]dist[/\\]agent[/\\](hooks[/\\][^/\\]+\.js)$/.exec(n.callFrame.url);
    return m ? `${m[1].replace(/\\/g, '/')}:${n.callFrame.functionName}` : '';
  };

  // For an agent-owned sample: the agent module to blame, the outermost agent frame below the
  // host's code (the hook or listener the host called), e.g. exporters/otel-metrics.js.
  const memo = new Map();
  function agentOwned(id) {
    if (memo.has(id)) return memo.get(id);
    const leaf = byId.get(id);
    let owned = false;
    let module = '';
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (isAgent(n)) {
        owned = !(WRAPPERS.has(wrapperKey(n)) && n !== leaf);
        break;
      }
    }
    if (owned) {
      // The module the time is spent for: the deepest agent frame that is an exporter, else the
      // deepest agent frame (hooks, classification, bus).
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
        const n = byId.get(cur);
        if (!isAgent(n)) continue;
        const m = /[/\\]dist[/\\]((agent|exporters)[/\\].+)$/.exec(n.callFrame.url.replace(/^file:\/\//, ''));
        const mod = m ? m[1].replace(/\\/g, '/') : '?';
        if (!module) module = mod;
        if (mod.startsWith('exporters/') && !mod.startsWith('exporters/index')) {
          module = mod;
          break;
        }
      }
    }
    const r = owned ? module : false;
    memo.set(id, r);
    return r;
  }

  // Sample i lasts timeDeltas[i + 1] (the delta recorded at the next sample).
  const { samples, timeDeltas } = profile;
  let total = 0;
  let agent = 0;
  let agentSelf = 0;
  let otelSelf = 0;
  let gc = 0;
  const top = new Map();
  const modules = new Map();
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    const n = byId.get(samples[i]);
    total += dt;
    if (n.callFrame.functionName === '(garbage collector)') gc += dt;
    if (isOtel(n)) otelSelf += dt;
    const mod = agentOwned(samples[i]);
    if (mod) {
      modules.set(mod, (modules.get(mod) || 0) + dt);
      agent += dt;
      if (isAgent(n)) agentSelf += dt;
      const k = short(n);
      top.set(k, (top.get(k) || 0) + dt);
    }
  }
  const per = (us) => (ops > 0 ? us / ops : NaN);
  return {
    sampledUs: total,
    agentUsPerOp: per(agent),
    agentSelfUsPerOp: per(agentSelf),
    otelSelfUsPerOp: per(otelSelf),
    gcUsPerOp: per(gc),
    modules: [...modules.entries()].sort((a, b) => b[1] - a[1]).map(([module, us]) => ({ module, usPerOp: per(us) })),
    top: [...top.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([frame, us]) => ({ frame, usPerOp: per(us) })),
  };
}

module.exports = { analyseProfile };

if (require.main === module) {
  // node bench/lib/profile.js FILE OPS [AGENT_ROOT]
  const [file, ops, root] = process.argv.slice(2);
  console.log(JSON.stringify(analyseProfile(file, Number(ops), path.resolve(root || path.join(__dirname, '..', '..'))), null, 2));
}
