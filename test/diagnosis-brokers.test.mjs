// A message broker's connections, with a real RabbitMQ and mosquitto (test/helpers/servers.mjs) and
// their real client libraries (amqplib, MQTT.js): the event names the protocol, and the RST
// RabbitMQ sends at every close of its own — after the AMQP goodbye, with nothing lost — is no event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import { captureEach, delay, listen, closeServer } from './helpers/resets.mjs';
import { checkEvent, establishedClient, readReset, movedNoVerdict } from './helpers/check-event.mjs';
import { startRabbitMQ, startMosquitto } from './helpers/servers.mjs';
import { withAndWithout, fixture, resetLines, withoutAgentLines, describeRun } from './helpers/subprocess.mjs';

const require = createRequire(import.meta.url);
const amqp = require('amqplib');
const mqtt = require('mqtt');

const cap = captureEach();
const client = (port) => (e) => e.direction === 'client' && e.serverPort === port;

/** An open AMQP connection with a channel and a queue, and the 'close' it will hear. */
async function openConnection(port, query = '') {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}${query}`);
  const errors = [];
  conn.on('error', (err) => errors.push(err));
  const closed = new Promise((r) => conn.once('close', r));
  const channel = await conn.createChannel();
  await channel.assertQueue('resetwatch-test');
  return { conn, errors, closed };
}

/**
 * The broker's end of an open client connection destroyed by the kernel (ss -K), which sends the
 * client an RST: the client's event, an established connection of `protocol`.
 */
async function resetAtBroker(port, protocol) {
  execFileSync('ss', ['-K', 'state', 'established', 'src', '127.0.0.1', 'sport', '=', `:${port}`]);
  const e = await cap.next(client(port), 10000);
  checkEvent(e, { ...establishedClient(port), ...readReset, protocol, ...movedNoVerdict });
}

/** A fresh broker for one test (the ones that stop it included), its readiness probes' refusals cleared. */
async function withBroker(fn) {
  const broker = await startRabbitMQ();
  cap.clear();
  try {
    await fn(broker);
  } finally {
    await broker.stop();
  }
}

const FORCED = {
  'rabbitmqctl close_all_connections (Close, Close-Ok, its RST before our FIN)': (broker) =>
    assert.match(broker.ctl('close_all_connections', 'operator says bye'), /Closed 1 connections/),
  "a shutdown, SIGTERM (its Close and its RST at once: amqplib's Close-Ok is written into the RST)": (broker) => broker.signal('SIGTERM'),
};

for (const [how, forceClose] of Object.entries(FORCED)) {
  test(`RabbitMQ closes a connection itself, ${how}: the app hears CONNECTION_FORCED as a close, no event`, () =>
    withBroker(async (broker) => {
      const { errors, closed } = await openConnection(broker.port);
      await delay(100);
      forceClose(broker);
      const reason = await closed;
      assert.match(String(reason?.message), /320 \(CONNECTION-FORCED\)/);
      assert.deepEqual(errors, [], 'amqplib saw no socket error');
      await delay(300);
      assert.deepEqual(cap.events.filter(client(broker.port)), [], 'the goodbye had been said: nothing was lost');
    }));
}

test("the client's own close (Close, Close-Ok, then the broker's RST): no event", () =>
  withBroker(async (broker) => {
    const { conn } = await openConnection(broker.port);
    await conn.close();
    await delay(300);
    assert.deepEqual(cap.events.filter(client(broker.port)), []);
  }));

test('amqplib gives up on a frozen broker (missed heartbeats) and ends its socket; the RST when the broker wakes: no event', () =>
  withBroker(async (broker) => {
    const { errors, closed } = await openConnection(broker.port, '?heartbeat=1');
    broker.signal('SIGSTOP');
    try {
      await closed;
      assert.match(String(errors[0]?.message), /Heartbeat timeout/);
    } finally {
      broker.signal('SIGCONT');
    }
    await delay(1500); // the broker reads this side's FIN and Close-less end, and resets
    assert.deepEqual(cap.events.filter(client(broker.port)), [], 'the app had given up on the connection before');
  }));

test('an open AMQP connection reset at the broker (ss -K): an event, protocol amqp', () =>
  withBroker(async (broker) => {
    const { errors, closed } = await openConnection(broker.port);
    await delay(100);
    await resetAtBroker(broker.port, 'amqp');
    await closed;
    assert.equal(errors[0]?.code, 'ECONNRESET', 'the app heard the reset');
  }));

test("another client whose socket 'error' listener is also a bound onSocketError is no AMQP: its request sent with its end and met by an RST is an event", async () => {
  // The name is common (media servers, tunnels, game clients): amqplib binds it for 'end' as well.
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  const port = await listen(server);
  try {
    class Client {
      constructor() {
        this.errors = [];
        this.socket = net.connect(port, '127.0.0.1', () => this.socket.end('request'));
        this.socket.on('error', this.onSocketError.bind(this));
      }
      onSocketError(err) {
        this.errors.push(err);
      }
    }
    const c = new Client();
    const e = await cap.next(client(port), 10000);
    assert.equal(e.errorType, 'ECONNRESET');
    assert.equal(e.protocol, 'unknown');
    assert.equal(c.errors[0]?.code, 'ECONNRESET');
  } finally {
    await closeServer(server);
  }
});

test('MQTT.js: a connection reset at mosquitto (ss -K) is an event, protocol mqtt; its own end() is none', async () => {
  const broker = await startMosquitto();
  cap.clear();
  const connected = () =>
    new Promise((resolve, reject) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
  try {
    const quiet = await connected();
    await new Promise((r) => quiet.end(false, r));
    await delay(300);
    assert.deepEqual(cap.events.filter(client(broker.port)), [], 'a DISCONNECT and a FIN');
    const c = await connected();
    const errors = [];
    c.on('error', (err) => errors.push(err));
    await delay(100);
    await resetAtBroker(broker.port, 'mqtt');
    c.end(true);
    assert.equal(errors[0]?.code, 'ECONNRESET', 'the app heard the reset');
  } finally {
    await broker.stop();
  }
});

test('amqp: an app with no error listener crashes on the reset amqplib re-emits: same crash, the event fatal', () =>
  withBroker(async (broker) => {
    const { plain, agent } = await withAndWithout([fixture('app-amqp-crash.cjs'), String(broker.port)]);
    assert.equal(plain.code, 1, `the fixture must crash without the agent\n${describeRun(plain)}`);
    assert.match(plain.stderr, /Emitted 'error' event on ChannelModel instance/);
    assert.equal(agent.code, plain.code, describeRun(agent));
    assert.equal(agent.stdout, plain.stdout);
    assert.equal(withoutAgentLines(agent.stderr), plain.stderr.replaceAll(/pid\b/g, 'pid'), "stderr apart from the agent's line");
    const lines = resetLines(agent.stderr);
    assert.equal(lines.length, 1, agent.stderr);
    assert.equal(lines[0]['resetwatch.fatal'], true, 'marked fatal');
    assert.equal(lines[0]['resetwatch.protocol'], 'amqp');
    assert.equal(lines[0]['error.type'], 'ECONNRESET');
  }));
