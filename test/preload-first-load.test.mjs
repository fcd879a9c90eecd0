// A preload installs its hooks when the app first loads node:net (agent/register.ts, through
// agent/builtins.ts whenLoaded), not before: `node -e 1` and other processes that never load it
// pay for none of the hooks. This file checks the other half: whichever way an app first loads
// node:net — require, a built-in that loads it (http), an ES module's import, Node's own fetch,
// process.getBuiltinModule — the hooks are in place before the app's next line, so a connection
// dialled right away and reset by the peer is seen. Real loopback sockets, real RSTs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { runNode, AGENT, fixture } from './helpers/subprocess.mjs';

let server;
let port;
before(async () => {
  // Resets every connection as it arrives: the client reads ECONNRESET.
  server = net.createServer((s) => s.resetAndDestroy());
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  port = server.address().port;
});
after(() => server.close());

const ENV = { RESETWATCH_PORT: '0', RESETWATCH_LOG: 'off' };

for (const mode of ['require-net', 'require-http', 'get-builtin', 'fetch-later']) {
  test(`first load of node:net by ${mode}: the connection dialled at once is watched, its reset counted`, async () => {
    const r = await runNode([...AGENT, fixture('first-load.cjs'), mode, String(port)], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { loadedBefore: false, resets: 1 });
  });
}

test('first load of node:net by an ES module import: the connection dialled in its top level is counted', async () => {
  const r = await runNode([...AGENT, fixture('first-load.mjs'), String(port)], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { resets: 1 });
});

test('stop() before the app loads node:net: nothing is installed later, the reset is not counted', async () => {
  const script = `
    const fs = require('node:fs');
    const { agent, stop } = require('resetwatch');
    stop();
    const net = require('node:net');
    net.connect(${port}, '127.0.0.1').on('error', () => setTimeout(() => {
      fs.writeSync(1, JSON.stringify({ resets: agent.stats.resets }) + '\\n');
    }, 100));`;
  const r = await runNode([...AGENT, '-e', script], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { resets: 0 });
});
