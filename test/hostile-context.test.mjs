// An app whose OpenTelemetry context manager misbehaves (active() throws, returns a plain object, or
// one without getValue): its resets are still recorded, without a trace, and the agent reports no
// internal error. Real loopback sockets, a real RST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT, fixture, resetLines, runNode } from './helpers/subprocess.mjs';

// A server that resets the one connection it gets, after the client's request arrives.
const APP = `
const net = require('node:net');
const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.write('hello'));
  c.on('error', (err) => { console.log('APP ' + err.code); server.close(); });
});
`;

for (const hostile of ['throws', 'plain', 'never']) {
  test(`a context manager that misbehaves (${hostile}): the reset is recorded, without a trace`, async () => {
    const r = await runNode(['--require', fixture('otel-hostile-context.cjs'), ...AGENT, '-e', APP], {
      env: { HOSTILE_CONTEXT: hostile, RESETWATCH_LOG: 'stderr', RESETWATCH_PORT: '0' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^APP ECONNRESET$/m);
    const resets = resetLines(r.stderr);
    assert.deepEqual(resets.map((e) => `${e['resetwatch.direction']}/${e['error.type']}`).sort(), ['client/ECONNRESET'], r.stderr);
    assert.equal(resets[0].trace_id, undefined);
    assert.doesNotMatch(r.stderr, /internal error/);
  });
}
