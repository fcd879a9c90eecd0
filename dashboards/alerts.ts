// The alerts, in one source: each is rendered as a Prometheus alerting rule
// (generated/prometheus-rules.yml) and as a Grafana-managed alert rule (generated/grafana-alerting.yml),
// and carries its own `promtool test rules` cases (generated/prometheus-rules.test.yml).
//
// An alert is `value op threshold`: `value` is a PromQL expression that yields the number the
// annotations talk about (a ratio, a rate, a count), so Prometheus evaluates `(value) > threshold`
// and Grafana evaluates query A = value with a threshold expression on A. Anything that only gates the
// alert (a minimum traffic level) is inside `value` as an `and` filter, which keeps the left value.
import { M } from '../agent/contract';

export type Severity = 'warning' | 'info';

/** Text with `{{ VALUE }}` where the alert's value goes; each target substitutes its own variable. */
type Template = string;

export interface AlertSpec {
  /** alertname in Prometheus, title in Grafana; also the runbook section heading. */
  name: string;
  /** Stable Grafana alert rule UID (≤ 40 characters). */
  uid: string;
  severity: Severity;
  value: string;
  op: '>' | '<';
  threshold: number;
  for: string;
  summary: Template;
  description: Template;
  /** Overview dashboard panel that shows the problem (panel id in dashboards/overview.ts). */
  panelId: number;
  tests: AlertTest[];
}

/** One `promtool test rules` case: input series and, at given times, exactly the alerts that fire. */
export interface AlertTest {
  name: string;
  series: { series: string; values: string }[];
  expect: { at: string; firing: { labels: Record<string, string>; summary: string; description: string }[] }[];
}

export const GROUP = 'resetwatch';
/** Prometheus evaluation interval assumed by the rules and their tests. */
export const EVALUATION_INTERVAL = '1m';

const NS = '{{ if $labels.namespace }}{{ $labels.namespace }}/{{ end }}{{ $labels.job }}';

// Series used by several tests. A `job` without `namespace`, as with a plain static scrape config.
const JOB = 'job="shop", instance="10.0.0.7:9465"';
const resets = (labels: string) => `${M.resets}{${JOB}, ${labels}}`;
const conns = (labels: string) => `${M.connections}{${JOB}, ${labels}}`;

const SPIKE_BY = 'namespace, job, resetwatch_direction';

/**
 * Server-side resets the spike counts: not phase `idle`. A proxy in front (HAProxy) resets every idle
 * server connection it closes; nothing is lost, but they make most accepted connections end in a
 * reset, and a ratio near 1 can never grow 4× (a trial: 0.8 in health hid a timeout cutting responses).
 */
const SERVER_RESETS = '{resetwatch_direction="server", resetwatch_phase!="idle"}';

/**
 * ResetwatchResetSpike's value for one direction: client, resets/s against the hour before
 * (floored at 0.05/s); server, resets (idle ones left out) per accepted connection against the hour
 * before (floored at 1%; nothing where no connection was accepted in that hour). Accepted
 * connections now count as at least 0.01/s: long-lived connections (WebSockets) reset all at once,
 * with none accepted since, give a large finite value, not +Inf.
 */
function spike(direction: 'client' | 'server'): string {
  const sel = `{resetwatch_direction="${direction}"}`;
  const resetSel = direction === 'server' ? SERVER_RESETS : sel;
  const now = (m: string, s = sel) => `sum by (${SPIKE_BY}) (rate(${m}${s}[5m]))`;
  const before = (m: string, s = sel) => `sum by (${SPIKE_BY}) (rate(${m}${s}[1h] offset 5m))`;
  if (direction === 'client')
    return `(
  ${now(M.resets)}
  /
  clamp_min(
    ${before(M.resets)}
      or
    ${now(M.resets)} * 0,
    0.05
  )
)`;
  return `(
  (${now(M.resets, resetSel)} / clamp_min(${now(M.connections)}, 0.01))
  /
  clamp_min(
    (${before(M.resets, resetSel)} / ${before(M.connections)})
      or
    ${before(M.connections)} * 0,
    0.01
  )
)`;
}

function spikeDescription(direction: string, value: string): string {
  return `The ${direction}-side resets of ${NS} over the last 5 minutes are ${value} times those of the hour before (alert above 4× for 2 minutes). Client side: resets per second, the baseline floored at 0.05 resets/s. Server side: resets per accepted connection, leaving out idle-phase ones (a proxy or load balancer closing idle keep-alive connections loses nothing), the baseline floored at 1%, at least 0.2 resets/s, and only with connections accepted in the hour before, so that resets that grow with traffic (users closing pages mid-response) do not fire. Usually a peer crashed, restarted or is being deployed (client side), or clients or a load balancer started aborting (server side). Break it down by peer, phase and error type on the overview dashboard.`;
}

/** A ResetSpike test's expectation: at `at`, the alert fires for job shop's `direction` at `value`×. */
function spikeFires(at: string, direction: 'client' | 'server', value: string): AlertTest['expect'][number] {
  const labels = { job: 'shop', resetwatch_direction: direction };
  const summary = `shop: ${direction}-side resets jumped to ${value}× their baseline (the previous hour, with a floor)`;
  return { at, firing: [{ labels, summary, description: spikeDescription(direction, value).replaceAll(NS, 'shop') }] };
}

export const ALERTS: AlertSpec[] = [
  {
    name: 'ResetwatchPeerResetRatioHigh',
    uid: 'resetwatch-peer-reset-ratio-high',
    severity: 'warning',
    // Connections are not labelled by peer (bounded cardinality), so the ratio is resets with this peer
    // over all outbound connections of the job: a lower bound of the share of this peer's own
    // connections that end in a reset. Gate: at least 0.05 resets/s (15 in 5 minutes).
    // Capped at 1: resets of connections opened before the window can outnumber the ones opened in it.
    value: `clamp_max(
  sum by (namespace, job, server_address, server_port) (rate(${M.resets}{resetwatch_direction="client"}[5m]))
    / on (namespace, job) group_left
  sum by (namespace, job) (rate(${M.connections}{resetwatch_direction="client"}[5m])),
  1)
  and on (namespace, job, server_address, server_port)
sum by (namespace, job, server_address, server_port) (rate(${M.resets}{resetwatch_direction="client"}[5m])) > 0.05`,
    op: '>',
    threshold: 0.05,
    for: '10m',
    summary: `${NS}: connections to {{ $labels.server_address }}:{{ $labels.server_port }} end in a reset ({{ VALUE | humanizePercentage }} of all outbound connections)`,
    description: `Over the last 5 minutes, resets and premature closes with peer {{ $labels.server_address }}:{{ $labels.server_port }} amounted to {{ VALUE | humanizePercentage }} of all outbound connections of ${NS} (alert above 5% for 10 minutes). The share of that peer's own connections is at least this high. Where a pattern is recognised, the hint on these resets in /resets names it (upstream_down, accept_reset, keepalive_race, middlebox_reset, idle_reset, pool_idle_reset, local_abort, write_after_close); phase response with bytes received and no hint: the peer died mid-response (runbook).`,
    panelId: 30,
    tests: [
      {
        name: 'PeerResetRatioHigh: 6% of outbound connections reset with one peer',
        series: [
          { series: conns('resetwatch_direction="client", resetwatch_tls="false"'), values: '0+1000x20' },
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="response", error_type="ECONNRESET", server_address="payments", server_port="8080", tls_established="false"',
            ),
            values: '0+60x20',
          },
          // Another peer well under the ratio, and server-side resets, which do not count.
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="idle", error_type="ECONNRESET", server_address="search", server_port="9200", tls_established="false"',
            ),
            values: '0+10x20',
          },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="request", error_type="ECONNRESET", tls_established="false"'),
            values: '0+500x20',
          },
        ],
        expect: [
          // Condition true from the first evaluation with two samples (1m): pending until 11m.
          { at: '10m', firing: [] },
          {
            at: '11m',
            firing: [
              {
                labels: { job: 'shop', server_address: 'payments', server_port: '8080' },
                summary: 'shop: connections to payments:8080 end in a reset (6% of all outbound connections)',
                description:
                  "Over the last 5 minutes, resets and premature closes with peer payments:8080 amounted to 6% of all outbound connections of shop (alert above 5% for 10 minutes). The share of that peer's own connections is at least this high. Where a pattern is recognised, the hint on these resets in /resets names it (upstream_down, accept_reset, keepalive_race, middlebox_reset, idle_reset, pool_idle_reset, local_abort, write_after_close); phase response with bytes received and no hint: the peer died mid-response (runbook).",
              },
            ],
          },
        ],
      },
      {
        name: 'PeerResetRatioHigh: 4.9% stays quiet',
        series: [
          { series: conns('resetwatch_direction="client", resetwatch_tls="false"'), values: '0+1000x30' },
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="response", error_type="ECONNRESET", server_address="payments", server_port="8080", tls_established="false"',
            ),
            values: '0+49x30',
          },
        ],
        expect: [{ at: '30m', firing: [] }],
      },
      {
        name: 'PeerResetRatioHigh: a high ratio at very low traffic stays quiet',
        series: [
          // 50% of connections, but only 2 resets a minute (0.033/s, under the 0.05/s gate).
          { series: conns('resetwatch_direction="client", resetwatch_tls="false"'), values: '0+4x30' },
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="connect", error_type="ECONNREFUSED", server_address="payments", server_port="8080", tls_established="false"',
            ),
            values: '0+2x30',
          },
        ],
        expect: [{ at: '30m', firing: [] }],
      },
    ],
  },
  {
    name: 'ResetwatchResetSpike',
    uid: 'resetwatch-reset-spike',
    severity: 'warning',
    // Client side: resets/s over 5 minutes against the hour before it; a baseline under 0.05/s
    // counts as 0.05/s (series that did not exist an hour ago get that floor too), so it takes > 0.2
    // resets/s to fire. Server side: non-idle resets per accepted connection against the hour before
    // (floor 1%), with accepted connections in that hour and at least 0.2 such resets/s now: users
    // closing pages mid-response reset in step with traffic, and a morning's rise must not page anyone.
    value: `${spike('client')}
or
(
${spike('server')}
  and on (${SPIKE_BY})
  sum by (${SPIKE_BY}) (rate(${M.resets}${SERVER_RESETS}[5m])) > 0.2
)`,
    op: '>',
    threshold: 4,
    for: '2m',
    summary: `${NS}: {{ $labels.resetwatch_direction }}-side resets jumped to {{ VALUE | printf "%.1f" }}× their baseline (the previous hour, with a floor)`,
    description: spikeDescription('{{ $labels.resetwatch_direction }}', '{{ VALUE | printf "%.1f" }}'),
    panelId: 20,
    tests: [
      {
        name: 'ResetSpike: client resets jump from 0.1/s to 1/s',
        series: [
          // 6 a minute (0.1/s) for 70 minutes, then 60 a minute.
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="connect", error_type="ECONNREFUSED", server_address="payments", server_port="8080", tls_established="false"',
            ),
            values: '0+6x70 480+60x20',
          },
        ],
        expect: [
          // 72m: rate[5m] = (3*6+2*60)/300 = 0.46/s = 4.6× → pending; fires 2 minutes later.
          { at: '73m', firing: [] },
          spikeFires('74m', 'client', '8.2'),
        ],
      },
      {
        name: 'ResetSpike: 3.7× the baseline stays quiet',
        series: [
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="connect", error_type="ECONNREFUSED", server_address="payments", server_port="8080", tls_established="false"',
            ),
            values: '0+6x70 442+22x30',
          },
        ],
        expect: [
          { at: '80m', firing: [] },
          { at: '100m', firing: [] },
        ],
      },
      {
        name: 'ResetSpike: client resets out of nothing, above and below the 0.2/s floor',
        series: [
          // Series that did not exist an hour ago: 0.33/s fires, 0.17/s does not.
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="connect", error_type="ECONNREFUSED", server_address="payments", server_port="8080", tls_established="false"',
            ),
            values: '_x60 0+20x20',
          },
          {
            series: `${M.resets}{job="cart", instance="10.0.0.8:9465", resetwatch_direction="client", resetwatch_phase="connect", error_type="ECONNREFUSED", server_address="payments", server_port="8080", tls_established="false"}`,
            values: '_x60 0+10x20',
          },
        ],
        expect: [
          // 64m: rate[5m] = 80/300 = 0.27/s = 5.3× the floor → pending; fires 2 minutes later.
          { at: '65m', firing: [] },
          spikeFires('66m', 'client', '6.7'),
        ],
      },
      {
        name: 'ResetSpike: server resets that rise with traffic (pages closed mid-response) stay quiet',
        series: [
          // Every accepted connection ends in a reset (event streams closed by their pages): 2 a
          // minute for 70 minutes, then 40 a minute as the morning's users arrive.
          { series: conns('resetwatch_direction="server", resetwatch_tls="true"'), values: '0+2x70 140+40x30' },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="response", error_type="peer_closed", tls_established="true"'),
            values: '0+2x70 140+40x30',
          },
        ],
        expect: [
          { at: '75m', firing: [] },
          { at: '95m', firing: [] },
        ],
      },
      {
        name: 'ResetSpike: server resets per accepted connection jump from 1% to 10%',
        series: [
          { series: conns('resetwatch_direction="server", resetwatch_tls="true"'), values: '0+600x100' },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="response", error_type="ECONNRESET", tls_established="true"'),
            values: '0+6x70 480+60x20',
          },
        ],
        expect: [{ at: '73m', firing: [] }, spikeFires('74m', 'server', '8.2')],
      },
      {
        name: 'ResetSpike: behind a proxy that resets idle connections, a jump of response-phase resets fires',
        series: [
          // 80% of accepted connections end in an idle reset (HAProxy closing its idle server
          // connections) throughout; response-phase resets (its `timeout server` cutting slow
          // responses) jump from 1% to 10%. With idle resets counted the ratio goes 0.81 → 0.9.
          { series: conns('resetwatch_direction="server", resetwatch_tls="false"'), values: '0+600x100' },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="idle", error_type="ECONNRESET", tls_established="false"'),
            values: '0+480x100',
          },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="response", error_type="ECONNRESET", tls_established="false"'),
            values: '0+6x70 480+60x20',
          },
        ],
        expect: [{ at: '73m', firing: [] }, spikeFires('74m', 'server', '8.2')],
      },
      {
        name: 'ResetSpike: server idle resets that jump alone stay quiet',
        series: [
          // A proxy's idle timeout shortened: many more idle resets, nothing lost.
          { series: conns('resetwatch_direction="server", resetwatch_tls="false"'), values: '0+600x100' },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="idle", error_type="ECONNRESET", tls_established="false"'),
            values: '0+6x70 480+300x20',
          },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="response", error_type="ECONNRESET", tls_established="false"'),
            values: '0+6x100',
          },
        ],
        expect: [
          { at: '75m', firing: [] },
          { at: '85m', firing: [] },
        ],
      },
      {
        name: 'ResetSpike: server resets with no accepted connections an hour ago stay quiet',
        series: [
          { series: conns('resetwatch_direction="server", resetwatch_tls="true"'), values: '_x60 0+20x20' },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="response", error_type="ECONNRESET", tls_established="true"'),
            values: '_x60 0+20x20',
          },
        ],
        expect: [{ at: '70m', firing: [] }],
      },
    ],
  },
  {
    name: 'ResetwatchKeepAliveRace',
    uid: 'resetwatch-keepalive-race',
    severity: 'warning',
    // Requests on a reused keep-alive socket that met its end at once, before any response (the
    // histogram is only observed for those: hints keepalive_race, middlebox_reset).
    value: `sum by (namespace, job) (increase(${M.idleBeforeReuse}_count{resetwatch_direction="client", resetwatch_phase=~"request|response"}[15m]))`,
    op: '>',
    threshold: 3,
    for: '10m',
    summary: `${NS}: requests on reused keep-alive connections are being reset (keep-alive race)`,
    description: `{{ VALUE | printf "%.0f" }} requests of ${NS} sent on a reused keep-alive connection were reset or closed by the peer at once, before any response, in the last 15 minutes (alert above 3 for 10 minutes): the server or a load balancer closes idle connections just as the client reuses them, or a NAT, firewall or conntrack on the path expired or lost them (hint middlebox_reset). Compare the idle-before-reuse heatmap with the server's keep-alive timeout and the path's idle timeouts; the hints keepalive_race and middlebox_reset in /resets name the peer and the idle time.`,
    panelId: 40,
    tests: [
      {
        name: 'KeepAliveRace: one race a minute',
        series: [
          { series: `${M.idleBeforeReuse}_count{${JOB}, resetwatch_direction="client", resetwatch_phase="response"}`, values: '0+1x30' },
          // Server-side and idle-phase observations do not count.
          { series: `${M.idleBeforeReuse}_count{${JOB}, resetwatch_direction="server", resetwatch_phase="response"}`, values: '0+50x30' },
          { series: `${M.idleBeforeReuse}_count{${JOB}, resetwatch_direction="client", resetwatch_phase="idle"}`, values: '0+50x30' },
        ],
        expect: [
          // increase[15m] = 4 > 3 from 4m: pending until 14m.
          { at: '13m', firing: [] },
          {
            at: '14m',
            firing: [
              {
                labels: { job: 'shop' },
                summary: 'shop: requests on reused keep-alive connections are being reset (keep-alive race)',
                description:
                  "14 requests of shop sent on a reused keep-alive connection were reset or closed by the peer at once, before any response, in the last 15 minutes (alert above 3 for 10 minutes): the server or a load balancer closes idle connections just as the client reuses them, or a NAT, firewall or conntrack on the path expired or lost them (hint middlebox_reset). Compare the idle-before-reuse heatmap with the server's keep-alive timeout and the path's idle timeouts; the hints keepalive_race and middlebox_reset in /resets name the peer and the idle time.",
              },
            ],
          },
        ],
      },
      {
        name: 'KeepAliveRace: exactly 3 in every 15 minutes stays quiet',
        series: [
          {
            series: `${M.idleBeforeReuse}_count{${JOB}, resetwatch_direction="client", resetwatch_phase="request"}`,
            values: '0x4 1x4 2x4 3x4 4x4 5x4 6x4 7x4 8x4 9x4',
          },
        ],
        expect: [
          { at: '20m', firing: [] },
          { at: '45m', firing: [] },
        ],
      },
    ],
  },
  {
    name: 'ResetwatchTLSHandshakeResets',
    uid: 'resetwatch-tls-handshake-resets',
    severity: 'warning',
    // TLS-handshake resets per peer over all TLS connections of that direction (a lower bound of the
    // share of that peer's handshakes). Gate: at least 0.02 resets/s (6 in 5 minutes).
    value: `sum by (namespace, job, resetwatch_direction, server_address, server_port) (rate(${M.resets}{resetwatch_phase="tls_handshake"}[5m]))
  / on (namespace, job, resetwatch_direction) group_left
sum by (namespace, job, resetwatch_direction) (rate(${M.connections}{resetwatch_tls="true"}[5m]))
  and on (namespace, job, resetwatch_direction, server_address, server_port)
sum by (namespace, job, resetwatch_direction, server_address, server_port) (rate(${M.resets}{resetwatch_phase="tls_handshake"}[5m])) > 0.02`,
    op: '>',
    threshold: 0.1,
    for: '10m',
    summary: `${NS}: {{ VALUE | humanizePercentage }} of {{ $labels.resetwatch_direction }}-side TLS handshakes end in a reset{{ if $labels.server_address }} with {{ $labels.server_address }}:{{ $labels.server_port }}{{ end }}`,
    description: `Over the last 5 minutes, {{ VALUE | humanizePercentage }} of the {{ $labels.resetwatch_direction }}-side TLS connections of ${NS} were reset during the handshake{{ if $labels.server_address }} by {{ $labels.server_address }}:{{ $labels.server_port }}{{ end }} (alert above 10% for 10 minutes). The two sides do not agree on TLS (versions, ciphers, SNI, certificates) or one side does not speak TLS at all; on the server side, clients may also be giving up on handshakes this server is slow to answer (a busy event loop). The hint tls_mismatch in /resets has the details.`,
    panelId: 21,
    tests: [
      {
        name: 'TLSHandshakeResets: a peer rejects 20% of TLS handshakes',
        series: [
          { series: conns('resetwatch_direction="client", resetwatch_tls="true"'), values: '0+100x20' },
          // Plain-text connections are not in the denominator.
          { series: conns('resetwatch_direction="client", resetwatch_tls="false"'), values: '0+10000x20' },
          {
            series: resets(
              'resetwatch_direction="client", resetwatch_phase="tls_handshake", error_type="ECONNRESET", server_address="legacy", server_port="443", tls_established="false"',
            ),
            values: '0+20x20',
          },
        ],
        expect: [
          { at: '10m', firing: [] },
          {
            at: '11m',
            firing: [
              {
                labels: { job: 'shop', resetwatch_direction: 'client', server_address: 'legacy', server_port: '443' },
                summary: 'shop: 20% of client-side TLS handshakes end in a reset with legacy:443',
                description:
                  'Over the last 5 minutes, 20% of the client-side TLS connections of shop were reset during the handshake by legacy:443 (alert above 10% for 10 minutes). The two sides do not agree on TLS (versions, ciphers, SNI, certificates) or one side does not speak TLS at all; on the server side, clients may also be giving up on handshakes this server is slow to answer (a busy event loop). The hint tls_mismatch in /resets has the details.',
              },
            ],
          },
        ],
      },
      {
        name: 'TLSHandshakeResets: 9% stays quiet; resets in other phases do not count',
        series: [
          { series: conns('resetwatch_direction="server", resetwatch_tls="true"'), values: '0+100x30' },
          {
            series: resets(
              'resetwatch_direction="server", resetwatch_phase="tls_handshake", error_type="ECONNRESET", tls_established="false"',
            ),
            values: '0+9x30',
          },
          {
            series: resets('resetwatch_direction="server", resetwatch_phase="request", error_type="ECONNRESET", tls_established="true"'),
            values: '0+90x30',
          },
        ],
        expect: [{ at: '30m', firing: [] }],
      },
    ],
  },
  {
    name: 'ResetwatchAgentErrors',
    uid: 'resetwatch-agent-errors',
    severity: 'warning',
    value: `sum by (namespace, job, instance) (increase(${M.agentErrors}[10m]))`,
    op: '>',
    threshold: 0,
    for: '5m',
    summary: `${NS} {{ $labels.instance }}: resetwatch caught errors in its own code`,
    description: `resetwatch on {{ $labels.instance }} (${NS}) caught {{ VALUE | printf "%.0f" }} errors in its own hooks or exporters in the last 10 minutes. The app is not affected (the agent never throws into it), but some resets may be missing. Its log lines (prefix "resetwatch:") name the failing hook; please report them with the Node version.`,
    panelId: 60,
    tests: [
      {
        name: 'AgentErrors: one own error',
        series: [{ series: `${M.agentErrors}{${JOB}}`, values: '0x20 1x20' }],
        expect: [
          { at: '25m', firing: [] },
          {
            at: '26m',
            firing: [
              {
                labels: { job: 'shop', instance: '10.0.0.7:9465' },
                summary: 'shop 10.0.0.7:9465: resetwatch caught errors in its own code',
                description:
                  'resetwatch on 10.0.0.7:9465 (shop) caught 1 errors in its own hooks or exporters in the last 10 minutes. The app is not affected (the agent never throws into it), but some resets may be missing. Its log lines (prefix "resetwatch:") name the failing hook; please report them with the Node version.',
              },
            ],
          },
        ],
      },
      {
        name: 'AgentErrors: a process restart (counter back to 0) is not an error',
        series: [{ series: `${M.agentErrors}{${JOB}}`, values: '5x20 0x20' }],
        expect: [
          { at: '30m', firing: [] },
          { at: '40m', firing: [] },
        ],
      },
    ],
  },
  {
    name: 'ResetwatchEventsDropped',
    uid: 'resetwatch-events-dropped',
    severity: 'info',
    // otel_metrics counts metric data points, not reset events (docs/runbook.md).
    value: `sum by (namespace, job, instance, resetwatch_exporter) (rate(${M.dropped}{resetwatch_exporter!="otel_metrics"}[10m]))`,
    op: '>',
    threshold: 0,
    for: '15m',
    summary: `${NS} {{ $labels.instance }}: resetwatch's {{ $labels.resetwatch_exporter }} exporter is dropping reset events`,
    description: `The {{ $labels.resetwatch_exporter }} exporter of resetwatch on {{ $labels.instance }} (${NS}) has dropped {{ VALUE | printf "%.2f" }} reset events per second for 15 minutes (queue full, collector slow or down, or the log rate limit RESETWATCH_LOG_RATE). Metrics still count every reset; individual events are missing from that output.`,
    panelId: 61,
    tests: [
      {
        name: 'EventsDropped: the otel exporter drops events for 15 minutes',
        series: [
          { series: `${M.dropped}{${JOB}, resetwatch_exporter="otel"}`, values: '0x10 30+30x30' },
          { series: `${M.dropped}{${JOB}, resetwatch_exporter="log"}`, values: '0x40' },
        ],
        expect: [
          { at: '25m', firing: [] },
          {
            at: '26m',
            firing: [
              {
                labels: { job: 'shop', instance: '10.0.0.7:9465', resetwatch_exporter: 'otel' },
                summary: "shop 10.0.0.7:9465: resetwatch's otel exporter is dropping reset events",
                description:
                  'The otel exporter of resetwatch on 10.0.0.7:9465 (shop) has dropped 0.50 reset events per second for 15 minutes (queue full, collector slow or down, or the log rate limit RESETWATCH_LOG_RATE). Metrics still count every reset; individual events are missing from that output.',
              },
            ],
          },
        ],
      },
      {
        name: 'EventsDropped: a burst that stops stays quiet',
        series: [{ series: `${M.dropped}{${JOB}, resetwatch_exporter="otel"}`, values: '0x10 30+30x5 180x30' }],
        expect: [
          { at: '26m', firing: [] },
          { at: '40m', firing: [] },
        ],
      },
      {
        // A collector down for a quiet app: its metric exports fail, no reset event is lost.
        name: 'EventsDropped: metric data points given up (otel_metrics) stay quiet',
        series: [{ series: `${M.dropped}{${JOB}, resetwatch_exporter="otel_metrics"}`, values: '0x10 30+30x30' }],
        expect: [{ at: '26m', firing: [] }],
      },
    ],
  },
  {
    name: 'ResetwatchMetricsDown',
    uid: 'resetwatch-metrics-down',
    severity: 'warning',
    // Only targets that served resetwatch_info in the last hour: an app that never loaded the agent
    // is not this alert's business.
    value: `up and on (job, instance) max_over_time(${M.info}[1h])`,
    op: '<',
    threshold: 1,
    for: '5m',
    summary: `${NS} {{ $labels.instance }}: the resetwatch metrics endpoint cannot be scraped`,
    description: `Prometheus cannot scrape {{ $labels.instance }} (${NS}), which served resetwatch metrics within the last hour. Either the process is down or restarting, or the endpoint is unreachable (RESETWATCH_HOST/RESETWATCH_PORT, port clash with another process in the same pod, RESETWATCH_METRICS_TOKEN mismatch). Resets are not being recorded in Prometheus meanwhile.`,
    panelId: 62,
    tests: [
      {
        name: 'MetricsDown: a target stops answering',
        series: [
          { series: `up{${JOB}}`, values: '1x9 0x20' },
          { series: `${M.info}{${JOB}, version="0.1.0", node_version="v20.20.0"}`, values: '1x9 stale' },
          // A target that never served resetwatch metrics is ignored.
          { series: 'up{job="shop", instance="10.0.0.9:8080"}', values: '0x30' },
        ],
        expect: [
          { at: '14m', firing: [] },
          {
            at: '15m',
            firing: [
              {
                labels: { job: 'shop', instance: '10.0.0.7:9465' },
                summary: 'shop 10.0.0.7:9465: the resetwatch metrics endpoint cannot be scraped',
                description:
                  'Prometheus cannot scrape 10.0.0.7:9465 (shop), which served resetwatch metrics within the last hour. Either the process is down or restarting, or the endpoint is unreachable (RESETWATCH_HOST/RESETWATCH_PORT, port clash with another process in the same pod, RESETWATCH_METRICS_TOKEN mismatch). Resets are not being recorded in Prometheus meanwhile.',
              },
            ],
          },
        ],
      },
      {
        name: 'MetricsDown: a scrape that fails for 4 minutes stays quiet',
        series: [
          { series: `up{${JOB}}`, values: '1x9 0x4 1x10' },
          { series: `${M.info}{${JOB}, version="0.1.0", node_version="v20.20.0"}`, values: '1x9 stale _x3 1x10' },
        ],
        expect: [
          { at: '14m', firing: [] },
          { at: '20m', firing: [] },
        ],
      },
    ],
  },
];

/** Section anchor of an alert in docs/runbook.md (GitHub heading anchors: lower case). */
export const runbookAnchor = (a: AlertSpec) => a.name.toLowerCase();
