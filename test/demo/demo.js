#!/usr/bin/env node
// `npm run demo`: a small service and its clients, run under `node --require resetwatch`, provoke
// a reset in every phase and direction on loopback; then a table of what the agent saw. The metrics
// endpoint (http://127.0.0.1:9465/metrics, /resets) stays up for a while so you can look; the whole
// run ends by itself within 30 s (`--hold` keeps it up until Ctrl-C, `--no-hold` exits at once).
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

// Runs ./service.js the way users run their apps: with the agent preloaded.
const env = { RESETWATCH_LOG: path.join(require('node:os').tmpdir(), 'resetwatch-demo.log'), ...process.env };
const child = spawn(process.execPath, ['--require', 'resetwatch', path.join(__dirname, 'service.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
  cwd: path.join(__dirname, '..', '..'),
});
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
