// nmap's connect scan (`nmap -sT`, Debian's nmap) against an HTTP, an HTTPS and a raw TLS server:
// it completes each TCP handshake and resets at once, before a byte, as a cloud load balancer's
// layer 4 health check does (HAProxy's own layer 4 check resets before the handshake completes:
// no connection reaches the app, nothing to record). Over TLS no handshake began: that is no TLS
// handshake reset, which the TLS alert counts (dashboards/alerts.ts), and no established TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { delay } from './helpers/resets.mjs';
import { startApp, getText, parseExposition } from './helpers/prometheus.mjs';

const KINDS = {
  http: {
    phase: 'idle',
    tls: false,
    text: /^the client opened this connection and reset it without sending a request: nothing was lost\. A TCP \(layer 4\) health check/,
  },
  https: {
    phase: 'idle',
    tls: true,
    text: /^the client opened this TLS connection and reset it before sending a byte \(no handshake had begun\): nothing was lost\. A TCP \(layer 4\) health check .*a port scan/,
  },
  tls: {
    phase: 'established',
    tls: true,
    text: /^the client opened this TLS connection and reset it before sending a byte \(no handshake had begun\): nothing was lost\. A TCP \(layer 4\) health check .*a port scan/,
  },
};

test("nmap's connect scan of an HTTP, an HTTPS and a raw TLS server: idle_reset naming a layer 4 check or a scan; over TLS no version, not tls_handshake (which the TLS alert counts), tls_established false on /metrics", {
  timeout: 60000,
}, async (t) => {
  const app = startApp('tls-scanned.cjs');
  t.after(() => app.stop());
  const {
    done: { done: ports },
    port: metricsPort,
  } = await app.ready;
  const scanned = Object.values(ports).join(',');
  const out = execFileSync('nmap', ['-sT', '-Pn', '-n', '-p', scanned, '127.0.0.1'], { encoding: 'utf8', timeout: 30000 });
  for (const port of Object.values(ports)) assert.match(out, new RegExp(`^${port}/tcp\\s+open`, 'm'), out);
  const events = () =>
    app
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{"event"'))
      .map((l) => JSON.parse(l).event);
  const of = (kind) => (e) => e.direction === 'server' && e.localPort === ports[kind];
  for (let i = 0; i < 50 && !Object.keys(KINDS).every((kind) => events().some(of(kind))); i++) await delay(100);
  for (const [kind, want] of Object.entries(KINDS)) {
    const mine = events().filter(of(kind));
    assert.equal(mine.length, 1, `${kind}: ${JSON.stringify(events())}`);
    const [e] = mine;
    assert.deepEqual(
      [e.phase, e.errorType, e.tls, e.tlsVersion, e.bytesReceived, e.bytesSent, e.hint?.id],
      [want.phase, 'ECONNRESET', want.tls, undefined, 0, 0, 'idle_reset'],
      `${kind}: ${JSON.stringify(e)}`,
    );
    assert.match(e.hint.text, want.text, kind);
  }
  const resets = parseExposition((await getText(`http://127.0.0.1:${metricsPort}/metrics`)).body).filter(
    (s) => s.name === 'resetwatch_resets_total',
  );
  assert.deepEqual(
    resets
      .map(
        (s) =>
          `${s.labels.resetwatch_direction} ${s.labels.resetwatch_phase} ${s.labels.resetwatch_protocol} ${s.labels.tls_established} ${s.value}`,
      )
      .sort(),
    ['server established unknown false 1', 'server idle http/1.1 false 1', 'server idle unknown false 1'],
    JSON.stringify(resets),
  );
});
