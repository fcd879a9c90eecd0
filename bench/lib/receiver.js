'use strict';
// What the agents in the benchmark talk to, in the harness process: the OTLP receiver and Datadog
// agent stand-in (counts requests per variant, answers with empty responses) and the Prometheus
// scraper (each resetwatch variant's endpoint, at its interval, for as long as the app runs).
const http = require('node:http');
const net = require('node:net');

// Requests per variant, told apart by the service name in the body (bench-<variant>): OTLP from
// Bo, Bs, C, D; dd-trace's (E) msgpack traces to /v0.4/traces, which this server also answers as
// the stand-in for the Datadog agent on loopback.
const received = {};
const count = (who) => {
  received[who] ??= { traces: 0, metrics: 0, other: 0, bytes: 0 };
  return received[who];
};
// Longest first: bench-Bo and bench-Bs before bench-B.
const TAGS = ['Bo', 'Bs', 'B', 'C', 'D', 'E'].map((v) => [v, Buffer.from(`bench-${v}`)]);
const receiver = http.createServer((req, res) => {
  let who = 'unknown';
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    if (who === 'unknown') who = TAGS.find(([, tag]) => chunk.indexOf(tag) !== -1)?.[0] ?? 'unknown';
  });
  req.on('end', () => {
    const r = count(who);
    r.bytes += bytes;
    if (req.url.startsWith('/v1/traces') || /^\/v0\.\d\/traces/.test(req.url)) r.traces++;
    else if (req.url.startsWith('/v1/metrics')) r.metrics++;
    else r.other++;
    if (req.url.startsWith('/v0.')) {
      // The Datadog agent's answer to a trace payload: sampling rates (none), JSON.
      const body = req.url.includes('/traces') ? '{"rate_by_service":{}}' : '{}';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
      return;
    }
    if (req.url === '/info') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"endpoints":["/v0.4/traces"]}');
      return;
    }
    // An empty ExportServiceResponse: zero bytes in protobuf, {} in JSON.
    const proto = req.headers['content-type'] === 'application/x-protobuf';
    const body = proto ? '' : '{}';
    res.writeHead(200, { 'content-type': proto ? 'application/x-protobuf' : 'application/json', 'content-length': body.length });
    res.end(body);
  });
});

const scrapes = { ok: 0, failed: 0, lastStatus: null, lastError: null, lastSeries: 0, lastBytes: 0 };
function scrapeOnce(port, agent, standInScrape) {
  const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent, timeout: 2000 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      body += d;
    });
    res.on('end', () => {
      if (standInScrape) return;
      scrapes.lastStatus = res.statusCode;
      if (res.statusCode === 200) {
        scrapes.ok++;
        scrapes.lastBytes = body.length;
        scrapes.lastSeries = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
      } else scrapes.failed++;
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => {
    if (!standInScrape) {
      scrapes.failed++;
      scrapes.lastError = err.code || err.message;
    }
  });
}
/**
 * Scrapes `port` now and every `scrapeMs` (0: never) until the returned function is called. Over
 * one kept-alive connection, as Prometheus does (its scrape client keeps idle connections 5 min,
 * prometheus/common config/http_config.go), not a new connection per scrape.
 */
function startScraper(port, scrapeMs, standInScrape = false) {
  if (scrapeMs === 0) return () => {};
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  scrapeOnce(port, agent, standInScrape);
  const t = setInterval(() => scrapeOnce(port, agent, standInScrape), scrapeMs || 1000);
  return () => {
    clearInterval(t);
    agent.destroy();
  };
}

/**
 * Resolves once the endpoint on `port` answers /healthz (retrying every 10 ms, up to `ms`). The agent
 * binds its endpoint in the event loop's turn after the app's own listen callback, which is where
 * the bench apps report ready: a scrape sent at 'ready' is refused (docs/benchmarks.md).
 */
function waitForEndpoint(port, ms = 10000) {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 2000 }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : retry(new Error(`status ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', retry);
    };
    const retry = (err) => {
      if (Date.now() >= end) reject(new Error(`metrics endpoint on port ${port} not up within ${ms} ms: ${err.code || err.message}`));
      else setTimeout(attempt, 10);
    };
    attempt();
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

module.exports = { received, receiver, scrapes, startScraper, waitForEndpoint, freePort };
