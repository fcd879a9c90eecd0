#!/usr/bin/env node
// `npm test`: make sure the system tools the tests use are installed (Debian packages, installed
// with apt-get when running as root; otherwise print the exact command and stop — tests never
// skip silently), then run every test file with Node's built-in test runner on this Node.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

// command → Debian package that provides it
const TOOLS = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  python3: 'python3',
  ip: 'iproute2',
  iptables: 'iptables',
  // test/diagnosis-nginx: a private nginx in front of a Node upstream
  nginx: 'nginx-light',
  // test/diagnosis-haproxy: HAProxy in front of a Node server and of a Node client's upstream
  haproxy: 'haproxy',
  // test/diagnosis-forward-proxy: a forward proxy in front of the client
  tinyproxy: 'tinyproxy',
  // test/diagnosis-middlebox: kernel-made resets in network namespaces
  ss: 'iproute2',
  nft: 'nftables',
  conntrack: 'conntrack',
  sysctl: 'procps',
  // test/helm-*: lint the rendered chart, unpack helm from its npm package
  yamllint: 'yamllint',
  unzip: 'unzip',
  // test/shapes-*: a pseudo-terminal, private mount namespaces, another user, FIFOs
  script: 'bsdutils',
  unshare: 'util-linux',
  setsid: 'util-linux',
  setpriv: 'util-linux',
  mkfifo: 'coreutils',
  timeout: 'coreutils',
  dd: 'coreutils',
  // test/diagnosis-*: private database servers (test/helpers/servers.mjs)
  pg_ctlcluster: 'postgresql',
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  'mariadb-admin': 'mariadb-client',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  // test/diagnosis-brokers: a private RabbitMQ with an epmd of its own, and mosquitto
  'rabbitmq-server': 'rabbitmq-server',
  epmd: 'erlang-base',
  mosquitto: 'mosquitto',
  // test/diagnosis-port-scan: a connect scan of this process's servers
  nmap: 'nmap',
  // test/promises-syscalls: which syscalls the reset path makes
  strace: 'strace',
};

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ensureTools() {
  const missing = [
    ...new Set(
      Object.entries(TOOLS)
        .filter(([cmd]) => !have(cmd))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid && process.getuid() === 0) {
    console.log(`test: installing ${missing.join(', ')}`);
    execFileSync('sh', ['-c', cmd], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return;
  }
  console.error(`test: missing system packages: ${missing.join(', ')}. Install them with:\n  sudo sh -c '${cmd}'`);
  process.exit(1);
}

function testFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'fixtures') out.push(...testFiles(p));
    else if (/\.test\.(c|m)?js$/.test(entry.name)) out.push(p);
  }
  return out.sort();
}

ensureTools();
const root = path.join(__dirname, '..');
const filter = process.argv.slice(2);
let files = testFiles(path.join(root, 'test')).map((f) => path.relative(root, f));
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
// With no file named, node --test would look for tests everywhere, the fixtures included.
if (files.length === 0) {
  console.error(`test: no test file matches ${filter.join(' ')}`);
  process.exit(1);
}
console.log(`test: node ${process.version}, ${files.length} files`);
// --test-force-exit: a failing test that leaves a server open must not hang its file until the
// timeout (the failure is reported either way). The spec reporter on every Node (Node 22 picks TAP
// when stdout is a pipe): one summary format, ending with the failing tests, for CI to read.
const args = ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=180000', '--test-force-exit'];
const result = spawnSync(process.execPath, [...args, ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, RESETWATCH_TEST_NODE: process.execPath },
});
process.exit(result.status ?? 1);
