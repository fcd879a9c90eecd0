'use strict';
// Scenario 1 load: autocannon, keep-alive, `connections` connections with `pipelining` requests
// in flight on each, for `duration` seconds.
const autocannon = require('autocannon');
const { args, done } = require('./lib');

const a = args();
autocannon(
  { url: `http://127.0.0.1:${a.port}/`, connections: a.connections || 16, duration: a.duration || 3, pipelining: a.pipelining || 1 },
  (err, r) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    const ops = r['2xx'];
    // r.duration: seconds autocannon actually ran (its own clock, connection set-up excluded).
    done({
      ops,
      errors: r.errors + r.timeouts + r.non2xx,
      ms: r.duration * 1000,
      rate: ops / r.duration,
      autocannonAvg: r.requests.average,
    });
  },
);
