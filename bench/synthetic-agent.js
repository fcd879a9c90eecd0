'use strict';
// A stand-in agent of known cost, to calibrate what a bench scenario can resolve: its preload wraps
// net.Socket.prototype.connect and spins BURN_US µs of CPU (process.hrtime.bigint) in each call
// before Node's own connect. Writes DIR/dist/agent/index.js (the layout bench/run.js --agent=DIR
// preloads) and prints DIR:
//
//   npm run bench -- --only=tcp-churn-client --variants=A,B,C --no-save \
//     --agent=$(node bench/synthetic-agent.js) --b-env=BURN_US=2
//
// B − A should then read +2 µs per connection; how far it strays is the bench's resolution on this
// machine (docs/benchmarks.md "Raw TCP client churn against the peers").
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PRELOAD = `'use strict';
const net = require('node:net');
const ns = BigInt(Math.round(Number(process.env.BURN_US || 0) * 1000));
const original = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect() {
  const end = process.hrtime.bigint() + ns;
  while (process.hrtime.bigint() < end);
  return original.apply(this, arguments);
};
`;

const dir = path.resolve(process.argv[2] || path.join(os.tmpdir(), 'rw-synthetic-agent'));
fs.mkdirSync(path.join(dir, 'dist', 'agent'), { recursive: true });
fs.writeFileSync(path.join(dir, 'dist', 'agent', 'index.js'), PRELOAD);
process.stdout.write(`${dir}\n`);
