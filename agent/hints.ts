// Hints for humans: only where the pattern is unambiguous. Each is documented in the README
// ("Hints") and in the runbook.
import type { Hint, ResetEvent } from './types';
import { isDatabase } from './protocol';
import { metDeadSocket } from './retry';

/** A pooled database connection this quiet before it was reset had been closed for idleness. */
const POOL_IDLE_MS = 1000;

const secs = (ms: number | undefined) => (ms === undefined ? '?' : (ms / 1000).toFixed(1));

/** What the connection showed that the event does not carry. */
export interface Evidence {
  /** HTTP client: the keep-alive timeout the server advertised (`Keep-Alive: timeout=N`), ms. */
  serverKeepAliveMs?: number;
  /** The quiet time began with a write of this side still waiting for its answer (a query in flight), not with a read. */
  queryInFlight?: boolean;
  /**
   * HTTP server, request phase: a response began while the request was still arriving (event.ts);
   * false when what it wrote was no such answer (the 400 Node writes for a request cut off).
   */
  answeredEarly?: boolean;
  /** HTTP client: the request in flight was never published and may be old (event.ts, retry.ts metDeadSocket). */
  requestAgeUnknown?: boolean;
  /** WebSocket: the peer's close frame had been read (upgrade.ts). */
  closeFrameReceived?: boolean;
  /** HTTP client: bytes of the response in flight had arrived (the peer took the request and died answering it). */
  responseBegun?: boolean;
  /** Server: the connection was handed to this process by another (hooks/server.ts adopt), which read what came before. */
  handedOver?: boolean;
}

// How much sooner than its advertised timeout a server may still close an idle connection: its
// timer starts when it wrote the response, ours when we read it, and timers are coarse.
const RACE_SLACK_MS = 1000;

/** Who the peer is, in a hint's text: built only for a hint that names it (most resets get none that does). */
const targetOf = (e: ResetEvent) => (e.serverAddress !== undefined ? `${e.serverAddress}:${e.serverPort}` : 'the peer');

export function hintFor(e: ResetEvent, seen: Evidence = {}): Hint | undefined {
  if (e.phase === 'connect' && e.errorType === 'ECONNREFUSED') {
    return {
      id: 'upstream_down',
      // A firewall's REJECT (tcp-reset or ICMP port-unreachable) refuses exactly as a closed port does.
      text: `nothing accepted the connection at ${targetOf(e)}: the upstream is down, restarting or deploying, or a firewall on the path rejects the connection`,
    };
  }
  if (e.phase === 'connect' && e.errorType === 'ECONNRESET') {
    // The peer's kernel completed the handshake, and its RST came before this side's connect
    // completed (an RST in answer to the SYN itself is ECONNREFUSED, above): the peer took the
    // connection and threw it away before a byte of it was sent.
    return {
      id: 'accept_reset',
      text:
        `${targetOf(e)} accepted the connection and reset it at once, before this side had sent anything: ` +
        "a proxy or server that rejects connections after accepting them (a deny, connection-limit or rate-limit rule, such as HAProxy's tcp-request connection reject), " +
        'a listener closed, or a process that exited, with the connection still waiting in its accept queue (a crash, or a restart without drain), a server draining that destroys each new connection (http-terminator), ' +
        "or an accept queue full with net.ipv4.tcp_abort_on_overflow=1 on the peer (its kernel resets the connection at the handshake's last step). " +
        'Nothing reached the peer: a retry is safe, with backoff (a deny or rate-limit rule rejects an immediate retry too)',
    };
  }
  // Before the handshake's hint: ss -K or a CNI aborting a connection mid-handshake is this host's doing.
  if (e.errorType === 'ECONNABORTED') {
    return {
      id: 'local_abort',
      text:
        'this host aborted the connection itself (ECONNABORTED), not the peer or the network: something on this machine destroyed the socket ' +
        'through the kernel — ss -K, or a CNI or service mesh terminating sockets to a removed backend (SOCK_DESTROY, bpf_sock_destroy, e.g. Cilium). ' +
        'Look at what ran on this host at that moment',
    };
  }
  if (e.phase === 'tls_handshake') {
    return {
      id: 'tls_mismatch',
      text:
        e.direction === 'server'
          ? // A client that times out on a slow handshake resets too (nginx proxy_connect_timeout,
            // curl --max-time): most often this server's event loop was busy.
            'the client dropped the connection during the TLS handshake: a client that gave up waiting (its connect or TLS timeout, with this server slow to answer: its event loop busy or its CPU throttled), ' +
            'or one that rejects this server’s protocol versions, ciphers or certificate, or does not speak TLS at all'
          : 'the peer dropped the connection during the TLS handshake: it rejected this side’s protocol versions, ciphers, SNI or certificate, or does not speak TLS at all (check both sides’ TLS settings), ' +
            'or it (or a proxy or load balancer in front of it) failed or was overloaded mid-handshake',
    };
  }
  const keepAlive = seen.serverKeepAliveMs;
  // A race or a lost middlebox state leaves a request unanswered: a response already begun says the
  // peer took the request and died (or closed) answering it, as an upstream crashing mid-response.
  if (
    e.direction === 'client' &&
    !seen.responseBegun &&
    metDeadSocket(e, seen.requestAgeUnknown) &&
    (e.phase === 'request' || e.phase === 'response') &&
    e.errorType === 'ECONNRESET' &&
    e.syscall !== undefined &&
    keepAlive !== undefined &&
    e.idleBeforeReuseMs !== undefined &&
    e.idleBeforeReuseMs < keepAlive - RACE_SLACK_MS
  ) {
    // A bare RST on a connection the server promised to keep far longer. `read ECONNRESET` means
    // no FIN came first: Node's client fails a request with "socket hang up" on the FIN itself,
    // and Linux reports an RST after a FIN as EPIPE.
    return {
      id: 'middlebox_reset',
      text:
        `not a keep-alive race: this pooled connection had idled ${secs(e.idleBeforeReuseMs)} s, far less than the ${keepAlive / 1000} s ` +
        `keep-alive timeout ${targetOf(e)} advertised, and the request sent on it met an RST with no FIN before it. ` +
        // A graceful shutdown first: closing its idle connections (terminus, stoppable, lightship,
        // closeIdleConnections) resets one whose next request had already arrived, and in a
        // deploy that is the likelier cause (a trial of shutdown libraries).
        'The server shut down, restarted or crashed (a graceful shutdown that closes idle connections resets one whose next request had already arrived), ' +
        'or a middlebox on the path (firewall, NAT, load balancer, conntrack) lost or expired the connection, or rejected it: ' +
        "check the server's restarts and deploys (refusals to it in the same seconds), the firewall rules on both hosts and in between, and NAT/conntrack timeouts and state (conntrack -S); retry idempotent requests that fail on a reused socket",
    };
  }
  if (
    e.direction === 'client' &&
    !seen.responseBegun &&
    metDeadSocket(e, seen.requestAgeUnknown) &&
    (e.phase === 'request' || e.phase === 'response') &&
    e.errorType !== 'ECONNREFUSED'
  ) {
    // Without a pooled time (no previous exchange seen on this connection, as for one pooled
    // before the agent started), the connection's own quiet time before the reset.
    const idle = e.idleBeforeReuseMs ?? e.idleMs ?? 0;
    const target = targetOf(e);
    const retry = 'retry idempotent requests that fail on a reused socket';
    // A bare RST (`read ECONNRESET`, or `write ECONNRESET` where the request's write met it: no
    // FIN before it, Linux says EPIPE after one): a server closing an idle connection at its
    // timeout sends a FIN; an RST alone is most often the path's (a NAT or conntrack entry lost or
    // expired), a server that closes with one (HAProxy nolinger) or one that died.
    if (e.errorType === 'ECONNRESET' && (e.syscall === 'read' || e.syscall === 'write')) {
      return {
        id: 'keepalive_race',
        text:
          `keep-alive race or lost state: ${target} closed this pooled connection with an RST and no FIN before it, after it idled ${secs(idle)} s, just as a new request went out on it. ` +
          'A server closing an idle connection at its timeout sends a FIN first; an RST alone comes from a load balancer, NAT, firewall or conntrack on the path that lost or expired the flow ' +
          `(a flush or failover resets every pooled connection to ${target} at once: check conntrack -S invalid and the reject counters), from a server that closes with an RST (HAProxy nolinger), or from one that crashed. ` +
          `Make the client's idle timeout shorter than every idle timeout on the path (Node's http.Server default is 5 s), which does not help against lost state, and ${retry}`,
      };
    }
    // A FIN long before the timeout the server advertised: a proxy in front that closes sooner (its
    // Keep-Alive header may be the backend's, passed on), or the server's shutdown or death.
    if (keepAlive !== undefined && idle < keepAlive - RACE_SLACK_MS) {
      return {
        id: 'keepalive_race',
        text:
          `not the advertised idle timeout: ${target} advertised a ${keepAlive / 1000} s keep-alive timeout but closed this pooled connection after it idled only ${secs(idle)} s, just as a new request went out on it. ` +
          'Either a proxy or load balancer in front of it closes idle connections sooner (the Keep-Alive header may be the backend’s, passed on): then these idle times cluster at its timeout, and the client’s idle timeout must be shorter than that; ' +
          "or the server was shutting down, restarting or crashing (a deploy; Node's server.close() closes idle connections at once): then they come in a burst at one moment, and its shutdown should drain. " +
          `Either way, ${retry}`,
      };
    }
    // Reused well after the timeout the server advertised: its close came before the request, and
    // the client held on to the connection (a trial behind Apache: a client whose loop was blocked
    // sent its request 6.6 s after a 5 s timeout, Apache's FIN 1.6 s old; the text said "just as").
    if (keepAlive !== undefined && idle > keepAlive + RACE_SLACK_MS) {
      return {
        id: 'keepalive_race',
        text:
          `reused past the advertised idle timeout: ${target} advertised a ${keepAlive / 1000} s keep-alive timeout, and this pooled connection was reused after it idled ${secs(idle)} s: the server had closed it before the request went out. ` +
          "The client held the connection past the server's timeout: its event loop was blocked when the close came (a pool drops a closed or expired connection only when the loop runs), or its pool's idle timeout is longer than the server's. " +
          `Look for event-loop stalls before this request, keep the client's idle timeout below the server's, and ${retry}`,
      };
    }
    return {
      id: 'keepalive_race',
      text:
        `keep-alive race: ${target} closed this pooled connection after it idled ${secs(idle)} s, just as a new request went out on it. ` +
        `Make the client's idle timeout shorter than the server's and load balancer's keep-alive timeout (Node's http.Server default is 5 s), or ${retry}`,
    };
  }
  // Idle means quiet since a read (the previous answer): a connection waiting for a query's answer was not idle.
  if (e.direction === 'client' && e.phase === 'established' && isDatabase(e.protocol) && !seen.queryInFlight) {
    const idle = e.idleMs;
    if (idle !== undefined && idle >= POOL_IDLE_MS) {
      return {
        id: 'pool_idle_reset',
        text:
          `pooled ${e.protocol} connection to ${targetOf(e)}, idle ${secs(idle)} s, was reset: the server, a pooler in front of it or a middlebox (load balancer, NAT, firewall) closes connections idle that long. ` +
          "Make the pool's idle timeout shorter than the server's, the pooler's and the load balancer's (postgres idle_session_timeout, PgBouncer client_idle_timeout, mysql wait_timeout, redis timeout; the error the app got names it, e.g. 08P01 client_idle_timeout); " +
          'a connection kept open on purpose (ioredis, a subscriber, a LISTEN) needs TCP keep-alive probes more often than that',
      };
    }
  }
  if (e.direction === 'client' && e.phase === 'idle') {
    // Reset long before the idle timeout the server advertised: not the server's timeout (SDKs
    // trial: a firewall's RST to a keep-alive probe after 1 s, the server promising 5 s).
    if (keepAlive !== undefined && e.idleMs !== undefined && e.idleMs < keepAlive - RACE_SLACK_MS)
      return {
        id: 'idle_reset',
        text:
          `not the server's idle timeout: ${targetOf(e)} advertised a ${keepAlive / 1000} s keep-alive timeout, but this pooled connection was reset after idling only ${secs(e.idleMs)} s. ` +
          'A middlebox on the path (firewall, NAT, load balancer, conntrack) with a shorter idle timeout, or one that lost or expired the connection, or the server crashing or restarting: ' +
          "check the idle timeouts and state on the path (conntrack -S) and the server's restarts; shorten the client's keep-alive idle timeout below the shortest",
      };
    return {
      id: 'idle_reset',
      text: `${targetOf(e)} or a middlebox (load balancer, NAT, firewall) reset an idle pooled connection: its idle timeout is shorter than the client's; shorten the client's keep-alive idle timeout below it`,
    };
  }
  if (e.direction === 'server' && e.errorType === 'ECONNRESET' && (e.phase === 'idle' || quietFromTheStart(e, seen))) {
    // No request in flight. Behind HAProxy a steady stream of these (HAProxy trial: it resets each
    // server connection it drops) read as unexplained resets, and so did its layer 4 and TLS
    // (check-ssl) health checks of a raw TCP or TLS server.
    if (e.bytesReceived === 0 && seen.handedOver !== true) return neverAsked(e);
    return {
      id: 'idle_reset',
      text:
        'the client reset this idle keep-alive connection with no request in flight: nothing was lost. ' +
        'A proxy or load balancer in front drops its idle upstream connections so (HAProxy resets each server connection it closes), ' +
        'a client may close with an RST (SO_LINGER 0), and a middlebox that expired the connection resets it too',
    };
  }
  if (
    e.direction === 'server' &&
    (e.phase === 'request' || e.phase === 'response') &&
    (e.errorType === 'ECONNRESET' || e.errorType === 'peer_closed' || e.errorType === 'EPIPE')
  ) {
    // How long the request had run is often the client's or proxy's timeout itself (30.0 s, 60.0 s).
    const after = e.request?.ageMs === undefined ? '' : ` ${secs(e.request.ageMs)} s into the request`;
    // Bytes written without a response begun early (Node's own 400 for a request cut off by a
    // FIN) are no early answer: the client had given up first.
    if (e.phase === 'request' && e.bytesSent > 0 && seen.answeredEarly !== false)
      return {
        id: 'client_abort',
        text: `this server answered before the request had fully arrived (an early error such as 413, 415 or 401 with the body unread), and the client then stopped sending${after}: look at that response, not at timeouts (unless a proxy in front crashed or restarted at that moment: then many connections end at once)`,
      };
    // An RST (not a FIN: a client's own close) may also be a device's on the path.
    const onPath =
      e.errorType === 'ECONNRESET'
        ? '; an RST may also come from a device on the path (load balancer, firewall) and not the client, which then saw a reset or timed out too'
        : '';
    if (e.phase === 'request')
      return {
        id: 'client_abort',
        text: `the client gave up${after} while it was still sending the request, before any response (client or proxy timeout, a cancelled or abandoned upload, a proxy in front that crashed or restarted: then many connections end at once): compare the client's and any proxy's timeouts with how long its requests take to send${onPath}`,
      };
    // A server reading as it should meets a client's RST with a read: one met by the first write
    // on the connection came while nothing read (a later write's may come in any busy turn; Node
    // 20 and 22 count a failed write as sent, so there this never shows). No figure: the request's
    // age counts from a late first read.
    if (e.errorType === 'ECONNRESET' && e.syscall === 'write' && e.bytesSent === 0)
      return {
        id: 'client_abort',
        text:
          'the client gave up before the response was complete, and its RST was already there when this server wrote its answer (a write met it, not a read): ' +
          'this process was not reading while the client waited, its event loop blocked (synchronous work, GC, CPU throttling) or its accept late (a long accept queue), unless the client reset right after sending its request. ' +
          "Look at this process's event-loop delay at that moment, then compare the client's or proxy's timeout (a health check's) with how long it waited" +
          onPath,
      };
    return {
      id: 'client_abort',
      text: `the client gave up${after} before the response was complete (client or proxy timeout, cancelled request, a proxy in front that crashed or restarted: then many connections end at once): compare its timeout with this handler's latency; a long poll or event stream waits on purpose, and there it is the client leaving or a proxy's idle timeout${onPath}`,
    };
  }
  if (
    e.direction === 'server' &&
    e.phase === 'established' &&
    e.protocol === 'websocket' &&
    (e.errorType === 'ECONNRESET' || e.errorType === 'EPIPE') &&
    seen.closeFrameReceived
  ) {
    return {
      id: 'client_abort',
      text:
        'the client closed the WebSocket (its close frame was read) and then dropped the connection with frames of this server still unread, which makes its kernel send an RST: ' +
        'most often a page closed or navigated away while this server was sending. Nothing the client wanted was lost',
    };
  }
  if (e.errorType === 'EPIPE') {
    return { id: 'write_after_close', text: 'the app wrote to a connection the peer had already closed' };
  }
  return undefined;
}

/** Health checks and scanners reset within this long of the connection's start (HAProxy: at once). */
const CHECK_MS = 1000;

/**
 * A raw TCP or TLS server connection (no HTTP) reset soon after its start with no application
 * byte either way, as layer 4 and TLS health checks and scanners end. Later, the client may have
 * waited for a greeting that came late (a server that speaks first: SMTP, MySQL, a proxy for one);
 * a connection handed over by another process has only this process's byte counts.
 */
function quietFromTheStart(e: ResetEvent, seen: Evidence): boolean {
  return (
    e.phase === 'established' && e.bytesReceived === 0 && e.bytesSent === 0 && e.connectionAgeMs < CHECK_MS && seen.handedOver !== true
  );
}

/**
 * A server connection its client reset before it sent a request (HTTP) or any data; over TLS, one
 * whose client sent no byte at all has no version (no handshake began). Over TLS any
 * client that closes without reading this server's session tickets resets: a client that rejects
 * the certificate or ALPN after the handshake (the host name is often checked only then) looks the
 * same as a TLS health check.
 */
function neverAsked(e: ResetEvent): Hint {
  const what = e.phase === 'idle' ? 'a request' : 'any data';
  if (e.tls && e.tlsVersion !== undefined)
    return {
      id: 'idle_reset',
      text:
        `the client completed the TLS handshake and reset the connection without sending ${what}. ` +
        "A TLS health check does this (HAProxy's check-ssl, a load balancer's TLS check), and so does a client that opened the connection ahead and closed it unused (a browser's preconnect): nothing was lost. " +
        "So does a client that rejected this server's certificate or ALPN after the handshake (many clients check the host name only then): if clients report certificate errors, it is that",
    };
  const opened = e.tls
    ? 'the client opened this TLS connection and reset it before sending a byte (no handshake had begun)'
    : `the client opened this connection and reset it without sending ${what}`;
  return {
    id: 'idle_reset',
    text:
      `${opened}: nothing was lost. ` +
      "A TCP (layer 4) health check that closes with an RST (a cloud load balancer's), a port scan (nmap's connect scan), or a client that gave up before sending",
  };
}

/**
 * A request on a reused keep-alive connection that met a dead socket before any byte of its
 * response (hints keepalive_race, middlebox_reset): what the idle-before-reuse histograms observe
 * and the keep-alive alert counts. A request whose response had begun, or that had waited long on
 * its answer (an upstream crashing with requests in flight on its pooled connections), is not one.
 */
export function racedOnReuse(e: ResetEvent): boolean {
  const id = e.hint?.id;
  return e.idleBeforeReuseMs !== undefined && (id === 'keepalive_race' || id === 'middlebox_reset');
}
