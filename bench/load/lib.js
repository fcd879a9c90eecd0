'use strict';
// Shared by the load generators: argument parsing, a closed-loop runner, one JSON result line.
function args() {
  const out = {};
  for (const a of process.argv.slice(2)) {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (m) out[m[1]] = Number.isNaN(Number(m[2])) ? m[2] : Number(m[2]);
  }
  return out;
}

/** Runs `op()` `count` times, `concurrency` at once; prints {ops, errors, ms, rate}. */
async function closedLoop(count, concurrency, op) {
  let left = count;
  let ops = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  async function worker() {
    while (left > 0) {
      left--;
      if (await op()) ops++;
      else errors++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ops, errors, ms, rate: ops / (ms / 1000) };
}

function done(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

module.exports = { args, closedLoop, done };
