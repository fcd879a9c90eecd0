// How often a reset hidden behind the last bytes is missed (docs/benchmarks.md "Thirteenth pass"):
//   RESETS=2000 RESETWATCH_PORT=off RESETWATCH_LOG=off node -r resetwatch bench/hidden-resets.js
// RESETS connections, CONCURRENCY at a time, to a server that answers the client's first byte with
// three bytes, and 20 ms later three more and an RST at once: the client reads those last bytes and
// the reset in one poll. On libuv before 1.52 (Node 20, 22) Node reports them as the bytes and an
// end of input (the RST hidden behind them: classify.ts noteResetBehindEnd); later, as the bytes
// and ECONNRESET. Prints `RESULT {"events":…,"codes":{…}}`.
'use strict';
const net = require('node:net');
const { agent } = require('resetwatch');

const total = Number(process.env.RESETS ?? 1000);
const concurrency = Number(process.env.CONCURRENCY ?? 50);
const codes = {};
let events = 0;
agent.onReset((e) => {
  events++;
  codes[e.code] = (codes[e.code] ?? 0) + 1;
});
const server = net.createServer((s) => {
  s.on('error', () => {});
  s.once('data', () => {
    s.write('abc');
    setTimeout(() => {
      s.write('def');
      s.resetAndDestroy();
    }, 20);
  });
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const one = () =>
    new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('x'));
      c.on('error', () => {});
      c.on('data', () => {});
      c.on('close', resolve);
    });
  let started = 0;
  const worker = async () => {
    while (started < total) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  setTimeout(() => {
    process.stdout.write(`RESULT ${JSON.stringify({ events, codes })}\n`);
    server.close();
  }, 100);
});
