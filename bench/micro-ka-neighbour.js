'use strict';
// Preload for bench/micro-ka.js: a second HTTP user in an app with NO agent, to tell what Node's
// own code does when anything besides the app speaks HTTP in the process (which the metrics
// endpoint and the OTLP sender do, and every other agent too).
//   BENCH_NEIGHBOUR_SERVER_PORT=N  a plain second http server on 127.0.0.1:N answering /healthz
//                                  and /metrics (a text body the size of resetwatch's), unref'd;
//                                  the harness scrapes it like resetwatch's endpoint
//   BENCH_NEIGHBOUR_POST_URL=URL   an http.request POST of ~1 KB to URL every
//                                  BENCH_NEIGHBOUR_POST_MS (5000) over a keep-alive agent, unref'd
const http = require('node:http');

const serverPort = Number(process.env.BENCH_NEIGHBOUR_SERVER_PORT || 0);
// BENCH_NEIGHBOUR_RAW=1: the second server speaks HTTP/1.1 by hand on a net.Server (no node:http
// objects): what an endpoint that does not share Node's http code with the app would cost.
if (serverPort && process.env.BENCH_NEIGHBOUR_RAW === '1') {
  const net = require('node:net');
  const body = Buffer.from(`${Array.from({ length: 120 }, (_, i) => `neighbour_metric_${i}{a="b"} ${i}`).join('\n')}\n`);
  const ok = Buffer.from('ok\n');
  const server = net.createServer((socket) => {
    socket.unref();
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      buf += d;
      let end = buf.indexOf('\r\n\r\n');
      while (end !== -1) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const text = head.startsWith('GET /healthz') ? ok : body;
        const close = /\r\nconnection: *close/i.test(head);
        socket.write(
          `HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${text.length}\r\nConnection: ${close ? 'close' : 'keep-alive'}\r\n\r\n`,
        );
        if (close) {
          socket.end(text);
          return;
        }
        socket.write(text);
        end = buf.indexOf('\r\n\r\n');
      }
    });
    socket.on('error', () => {});
  });
  server.listen(serverPort, '127.0.0.1');
  server.unref();
} else if (serverPort) {
  const body = `${Array.from({ length: 120 }, (_, i) => `neighbour_metric_${i}{a="b"} ${i}`).join('\n')}\n`;
  const server = http.createServer({ keepAliveTimeout: 310000 }, (req, res) => {
    const text = req.url === '/healthz' ? 'ok\n' : body;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  });
  server.on('connection', (s) => s.unref());
  server.listen(serverPort, '127.0.0.1');
  server.unref();
}

const postUrl = process.env.BENCH_NEIGHBOUR_POST_URL;
if (postUrl) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const payload = Buffer.alloc(1024, 'x');
  const post = () => {
    const req = http.request(postUrl, {
      method: 'POST',
      agent,
      headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': payload.length },
    });
    req.on('response', (res) => res.resume());
    req.on('error', () => {});
    req.on('socket', (s) => s.unref());
    req.end(payload);
  };
  setInterval(post, Number(process.env.BENCH_NEIGHBOUR_POST_MS || 5000)).unref();
}
