'use strict';
// What the benchmark's variant B talks to, in the harness process: the OTLP receiver (counts the
// requests of B and C, answers with empty responses), the Prometheus scraper (B's endpoint every
// second during a window), and a stand-in endpoint the harness scrapes during A's and C's windows.
const http = require('node:http');
const net = require('node:net');

const received = {
  B: { traces: 0, metrics: 0, other: 0, bytes: 0 },
  C: { traces: 0, metrics: 0, other: 0, bytes: 0 },
  unknown: { traces: 0, metrics: 0, other: 0, bytes: 0 },
};
const TAG = { B: Buffer.from('bench-B'), C: Buffer.from('bench-C') };
const receiver = http.createServer((req, res) => {
  let who = 'unknown';
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    if (who === 'unknown') {
      if (chunk.indexOf(TAG.B) !== -1) who = 'B';
      else if (chunk.indexOf(TAG.C) !== -1) who = 'C';
    }
  });
  req.on('end', () => {
    const r = received[who];
    r.bytes += bytes;
    if (req.url.startsWith('/v1/traces')) r.traces++;
    else if (req.url.startsWith('/v1/metrics')) r.metrics++;
    else r.other++;
    // An empty ExportServiceResponse: zero bytes in protobuf, {} in JSON.
    const proto = req.headers['content-type'] === 'application/x-protobuf';
    const body = proto ? '' : '{}';
    res.writeHead(200, { 'content-type': proto ? 'application/x-protobuf' : 'application/json', 'content-length': body.length });
    res.end(body);
  });
});

const scrapes = { ok: 0, failed: 0, lastStatus: null, lastError: null, lastSeries: 0, lastBytes: 0 };
function scrapeOnce(port, standInScrape) {
  const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 2000 }, (res) => {
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
/** Scrapes `port` now and every `scrapeMs` (0: never) until the returned function is called. */
function startScraper(port, scrapeMs, standInScrape = false) {
  if (scrapeMs === 0) return () => {};
  scrapeOnce(port, standInScrape);
  const t = setInterval(() => scrapeOnce(port, standInScrape), scrapeMs || 1000);
  return () => clearInterval(t);
}

// During A's and C's windows the harness scrapes this stand-in instead, so that the harness does
// the same work in every window (on 2 cores a scrape wakes the harness, which competes with the app
// and the load generator); only the serving of the scrape differs between variants.
const standInBody = Buffer.from(`# TYPE stand_in_total counter\n${'stand_in_total{label="value"} 1\n'.repeat(60)}`);
const standIn = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': standInBody.length });
  res.end(standInBody);
});

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

module.exports = { received, receiver, scrapes, startScraper, standIn, freePort };
