// The overview dashboard: how many resets, what share of connections, where (direction, phase,
// error type, protocol, peer), whether it is the keep-alive race, how far connections got, and whether the
// agent itself is healthy. Built with the Grafana Foundation SDK; panel ids and the UID are stable
// (alerts link to panels by id).
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as tempo from '@grafana/grafana-foundation-sdk/tempo';
import * as text from '@grafana/grafana-foundation-sdk/text';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { FOLDED_PEER, LABEL_VALUES, M } from '../agent/contract';

export const OVERVIEW_UID = 'resetwatch-overview';

const PROM: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };
const TRACES: common.DataSourceRef = { type: 'tempo', uid: '${traces}' };

/** Target selector shared by every query; `.*` ("All") also matches series without the label. */
const T = 'job=~"$job", namespace=~"$namespace", pod=~"$pod", instance=~"$instance"';
const D = 'resetwatch_direction=~"$direction"';
const P = 'server_address=~"$peer"';
const RI = '$__rate_interval';

const resets = (extra = '') => `${M.resets}{${T}, ${D}, ${P}${extra}}`;
const conns = (extra = '') => `${M.connections}{${T}, ${D}${extra}}`;
const rate = (sel: string, window = RI) => `rate(${sel}[${window}])`;
/**
 * A counter's increase over the dashboard's range, a series born inside the range counted in full:
 * a reset series is born with its first reset (value 1), and increase() cannot count a series'
 * first value, so one reset showed nothing. A series that existed at the range's start (`offset`)
 * has its increase; any other, its last value in the range (a pod that died inside the range
 * keeps its resets). (`and`/`or` match label sets without `__name__`.)
 */
const inRange = (sel: string) => `((increase(${sel}[$__range]) and ${sel} offset $__range) or last_over_time(${sel}[$__range]))`;

function q(expr: string, legend = '', refId = 'A'): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .datasource(PROM)
    .expr(expr)
    .legendFormat(legend || '__auto')
    .refId(refId)
    .range();
}
const instant = (expr: string, refId = 'A') =>
  new prometheus.DataqueryBuilder().datasource(PROM).expr(expr).refId(refId).instant().format(prometheus.PromQueryFormat.Table);

type Panel = cog.Builder<dashboard.Panel>;

/** Places panels on the 24-column grid, left to right, wrapping rows. */
class Layout {
  private x = 0;
  private y = 0;
  private rowHeight = 0;
  constructor(private readonly b: dashboard.DashboardBuilder) {}
  row(title: string, id: number) {
    this.newline();
    this.b.withRow(new dashboard.RowBuilder(title).id(id).gridPos({ x: 0, y: this.y, w: 24, h: 1 }));
    this.y += 1;
  }
  add(panel: { gridPos(g: dashboard.GridPos): unknown } & Panel, w: number, h: number) {
    if (this.x + w > 24) this.newline();
    panel.gridPos({ x: this.x, y: this.y, w, h });
    this.b.withPanel(panel);
    this.x += w;
    this.rowHeight = Math.max(this.rowHeight, h);
  }
  private newline() {
    if (this.x === 0) return;
    this.y += this.rowHeight;
    this.x = 0;
    this.rowHeight = 0;
  }
}

function statPanel(id: number, title: string, description: string, expr: string, unit: string, legend = '') {
  return new stat.PanelBuilder()
    .id(id)
    .title(title)
    .description(description)
    .datasource(PROM)
    .withTarget(q(expr, legend))
    .unit(unit)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .graphMode(common.BigValueGraphMode.Area)
    .colorMode(common.BigValueColorMode.Value)
    .noValue('0');
}

function thresholds(steps: [number | null, string][]) {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps(steps.map(([value, color]) => ({ value, color })));
}

function tsPanel(id: number, title: string, description: string, unit: string) {
  return new timeseries.PanelBuilder()
    .id(id)
    .title(title)
    .description(description)
    .datasource(PROM)
    .unit(unit)
    .min(0)
    .fillOpacity(10)
    .lineWidth(1)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true)
        .calcs(['mean', 'max', 'lastNotNull']),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
}

function heatmapPanel(id: number, title: string, description: string, metric: string, unit: string) {
  return new heatmap.PanelBuilder()
    .id(id)
    .title(title)
    .description(description)
    .datasource(PROM)
    .withTarget(q(`sum by (le) (increase(${metric}_bucket{${T}, ${D}}[${RI}]))`, '{{le}}').format(prometheus.PromQueryFormat.Heatmap))
    .calculate(false)
    .yAxis(new heatmap.YAxisConfigBuilder().unit(unit).axisPlacement(common.AxisPlacement.Left))
    .rowsFrame(new heatmap.RowsHeatmapOptionsBuilder().layout(common.HeatmapCellLayout.Unknown))
    .color(
      new heatmap.HeatmapColorOptionsBuilder()
        .mode(heatmap.HeatmapColorMode.Scheme)
        .scheme('Oranges')
        .fill('dark-orange')
        .scale(heatmap.HeatmapColorScale.Exponential)
        .exponent(0.5)
        .steps(64)
        .reverse(false),
    )
    .cellValues(new heatmap.CellValuesBuilder().unit('short'))
    .tooltip(new heatmap.HeatmapTooltipBuilder().mode(common.TooltipDisplayMode.Single).yHistogram(true))
    .showValue(common.VisibilityMode.Never);
}

function variables(b: dashboard.DashboardBuilder) {
  const labelVar = (name: string, label: string, query: string, description: string) =>
    new dashboard.QueryVariableBuilder(name)
      .label(label)
      .description(description)
      .datasource(PROM)
      .query(query)
      .definition(query)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
      .sort(dashboard.VariableSort.AlphabeticalAsc)
      .multi(true)
      .includeAll(true)
      .allValue('.*')
      .current({ selected: true, text: ['All'], value: ['$__all'] });

  b.withVariable(
    new dashboard.DatasourceVariableBuilder('datasource')
      .label('Prometheus')
      .type('prometheus')
      .description('Prometheus (or compatible) data source that scrapes resetwatch'),
  );
  b.withVariable(
    new dashboard.DatasourceVariableBuilder('traces')
      .label('Traces')
      .type('tempo')
      .description(
        'Tempo data source that receives resetwatch spans (OpenTelemetry exporter); used by the "Traces of resets" panel. Exemplar links are set on the Prometheus data source (docs/dashboards.md).',
      ),
  );
  b.withVariable(labelVar('job', 'Job', `label_values(${M.info}, job)`, 'Scrape job(s) of processes running resetwatch'));
  b.withVariable(
    labelVar(
      'namespace',
      'Namespace',
      `label_values(${M.info}{job=~"$job"}, namespace)`,
      'Kubernetes namespace (empty outside Kubernetes)',
    ),
  );
  b.withVariable(
    labelVar(
      'pod',
      'Pod',
      `label_values(${M.info}{job=~"$job", namespace=~"$namespace"}, pod)`,
      'Kubernetes pod (empty outside Kubernetes)',
    ),
  );
  b.withVariable(
    labelVar(
      'instance',
      'Instance',
      `label_values(${M.info}{job=~"$job", namespace=~"$namespace", pod=~"$pod"}, instance)`,
      'Scrape target (host:port of the resetwatch endpoint)',
    ),
  );
  b.withVariable(
    new dashboard.CustomVariableBuilder('direction')
      .label('Direction')
      .description('client: this process dialled out; server: this process accepted the connection')
      .values(LABEL_VALUES.resetwatch_direction.join(','))
      .multi(true)
      .includeAll(true)
      .allValue('.*')
      .current({ selected: true, text: ['All'], value: ['$__all'] }),
  );
  b.withVariable(
    labelVar(
      'peer',
      'Peer',
      `label_values(${M.resets}{${T}, ${D}}, server_address)`,
      `Host this process dialled (server_address of client resets); ${FOLDED_PEER} collects peers beyond RESETWATCH_MAX_PEERS; empty for server resets unless RESETWATCH_SERVER_PEERS is on`,
    ),
  );
}

/** `runbookUrl`: where the dashboard's Runbook link points (docs/runbook.md as users can open it). */
export function overviewDashboard(runbookUrl: string): dashboard.Dashboard {
  const b = new dashboard.DashboardBuilder('resetwatch / Connection resets')
    .uid(OVERVIEW_UID)
    .description('TCP connection resets seen by the resetwatch agent: how many, where, why, and how far connections got.')
    .tags(['resetwatch', 'network', 'generated'])
    .editable()
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .timezone('browser')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(
      new dashboard.DashboardLinkBuilder('Runbook')
        .type(dashboard.DashboardLinkType.Link)
        .icon('doc')
        .targetBlank(true)
        .url(runbookUrl)
        .tooltip('What each resetwatch alert means and what to do'),
    );
  variables(b);
  const L = new Layout(b);

  // ── At a glance ────────────────────────────────────────────────────────────────────────────
  L.row('At a glance', 100);
  L.add(
    statPanel(
      1,
      'Resets / s',
      'Connections that ended in an RST, EPIPE, ECONNABORTED, refused connect or a premature peer close, per second.',
      `sum(${rate(resets())})`,
      'reqps',
    ).thresholds(
      thresholds([
        [null, 'green'],
        [0.1, 'orange'],
        [1, 'red'],
      ]),
    ),
    4,
    4,
  );
  L.add(
    statPanel(
      2,
      'Share of connections reset',
      "Per direction (client: dialled out; server: accepted), resets outside the idle phase over connections opened (resetwatch_connections_total). Idle-phase resets are left out: a keep-alive connection reset while idle loses nothing, and behind a proxy that resets the connections it drops (HAProxy) they are most of the server side. With a peer selected: client resets with that peer over all client connections, a lower bound of that peer's share.",
      // Idle left out: 83% on a healthy HAProxy-fronted service in a trial, none of it a failure.
      `sum by (resetwatch_direction) (${rate(resets(', resetwatch_phase!="idle"'))}) / sum by (resetwatch_direction) (${rate(conns())})`,
      'percentunit',
      '{{resetwatch_direction}}',
    ).thresholds(
      thresholds([
        [null, 'green'],
        [0.01, 'orange'],
        [0.05, 'red'],
      ]),
    ),
    4,
    4,
  );
  L.add(statPanel(3, 'Connections / s', 'Connections opened per second (dialled and accepted).', `sum(${rate(conns())})`, 'cps'), 4, 4);
  L.add(
    statPanel(
      4,
      'Reused-socket resets / s',
      'HTTP client requests sent on a pooled keep-alive socket that met its reset or close at once, before any response: the keep-alive race.',
      `sum(${rate(`${M.idleBeforeReuse}_count{${T}, ${D}}`)})`,
      'reqps',
    ).thresholds(
      thresholds([
        [null, 'green'],
        [0.01, 'orange'],
      ]),
    ),
    4,
    4,
  );
  L.add(
    statPanel(
      5,
      'Targets up',
      'resetwatch endpoints scraped successfully / endpoints that served resetwatch metrics in the last hour.',
      `sum(up{${T}} and on (job, instance) max_over_time(${M.info}{${T}}[1h])) / count(up{${T}} and on (job, instance) max_over_time(${M.info}{${T}}[1h]))`,
      'percentunit',
    )
      .thresholds(
        thresholds([
          [null, 'red'],
          [0.99, 'green'],
        ]),
      )
      .graphMode(common.BigValueGraphMode.None),
    4,
    4,
  );
  L.add(
    statPanel(
      6,
      'Agent errors (range)',
      'Errors resetwatch caught in its own code over the selected time range. Should be 0.',
      `sum(${inRange(`${M.agentErrors}{${T}}`)})`,
      'short',
    )
      .thresholds(
        thresholds([
          [null, 'green'],
          [1, 'red'],
        ]),
      )
      .graphMode(common.BigValueGraphMode.None),
    4,
    4,
  );

  // ── What resets ────────────────────────────────────────────────────────────────────────────
  L.row('What resets: direction, phase, error type', 101);
  L.add(
    tsPanel(
      20,
      'Resets / s by direction and phase',
      'Phase: how far the connection got (connect, tls_handshake, request, response, idle, established). Exemplars (dots) open the trace of a reset when the Prometheus data source has a trace link (docs/dashboards.md).',
      'reqps',
    )
      .withTarget(
        q(`sum by (resetwatch_direction, resetwatch_phase) (${rate(resets())})`, '{{resetwatch_direction}} {{resetwatch_phase}}').exemplar(
          true,
        ),
      )
      .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal)),
    12,
    9,
  );
  L.add(
    tsPanel(
      22,
      'Share of connections reset, by direction',
      "Resets over connections opened, per direction (client = dialled out, server = accepted). With a peer selected: a lower bound of that peer's share.",
      'percentunit',
    )
      .withTarget(
        q(
          `sum by (resetwatch_direction) (${rate(resets())}) / sum by (resetwatch_direction) (${rate(conns())})`,
          '{{resetwatch_direction}}',
        ),
      )
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
      .thresholds(
        thresholds([
          [null, 'transparent'],
          [0.05, 'red'],
        ]),
      ),
    12,
    9,
  );
  L.add(
    tsPanel(
      23,
      'Resets / s by error type',
      'ECONNRESET: RST received. EPIPE: wrote after the peer closed. ECONNREFUSED: nothing listening. ECONNABORTED: aborted locally. peer_closed: FIN while a request waited for its response ("socket hang up", "other side closed").',
      'reqps',
    ).withTarget(
      q(`sum by (resetwatch_direction, error_type) (${rate(resets())})`, '{{resetwatch_direction}} {{error_type}}').exemplar(true),
    ),
    12,
    8,
  );
  L.add(
    tsPanel(
      21,
      'TLS handshakes reset',
      'Resets in the tls_handshake phase over TLS connections opened, per direction and peer: protocol, cipher, SNI or certificate mismatch, or a peer that does not speak TLS (or a TCP health check against a TLS port, server side).',
      'percentunit',
    )
      .withTarget(
        q(
          `sum by (resetwatch_direction, server_address, server_port) (${rate(resets(', resetwatch_phase="tls_handshake"'))}) / on (resetwatch_direction) group_left sum by (resetwatch_direction) (${rate(conns(', resetwatch_tls="true"'))})`,
          '{{resetwatch_direction}} {{server_address}}:{{server_port}}',
        ),
      )
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
      .thresholds(
        thresholds([
          [null, 'transparent'],
          [0.1, 'red'],
        ]),
      ),
    12,
    8,
  );
  L.add(
    tsPanel(
      24,
      'Resets / s by protocol',
      'The application protocol on the connection when resetwatch recognised it (http/1.1, h2, grpc, websocket, postgres, mysql, redis, amqp, mqtt, …), else unknown.',
      'reqps',
    ).withTarget(
      q(
        `sum by (resetwatch_direction, resetwatch_protocol) (${rate(resets())})`,
        '{{resetwatch_direction}} {{resetwatch_protocol}}',
      ).exemplar(true),
    ),
    24,
    8,
  );

  // ── Who ────────────────────────────────────────────────────────────────────────────────────
  L.row('Who: peers', 102);
  L.add(
    tsPanel(
      30,
      'Top 10 peers: resets over outbound connections',
      "Resets with each peer over all outbound (client) connections: a lower bound of the share of that peer's connections that end in a reset (connections are not counted per peer). The ResetwatchPeerResetRatioHigh alert fires above 5%.",
      'percentunit',
    )
      .withTarget(
        q(
          `topk(10, sum by (server_address, server_port) (${rate(resets(', resetwatch_direction="client"'))}) / scalar(sum(${rate(conns(', resetwatch_direction="client"'))})))`,
          '{{server_address}}:{{server_port}}',
        ),
      )
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
      .thresholds(
        thresholds([
          [null, 'transparent'],
          [0.05, 'red'],
        ]),
      ),
    12,
    9,
  );
  L.add(
    tsPanel(
      32,
      'Top 10 peers: resets / s',
      `Client-side resets per second by the host:port this process dialled. ${FOLDED_PEER}: peers beyond RESETWATCH_MAX_PEERS.`,
      'reqps',
    ).withTarget(
      q(
        `topk(10, sum by (server_address, server_port) (${rate(resets(', resetwatch_direction="client"'))}))`,
        '{{server_address}}:{{server_port}}',
      ).exemplar(true),
    ),
    12,
    9,
  );
  L.add(
    new table.PanelBuilder()
      .id(31)
      .title('Resets in range by peer, phase and error type')
      .description(
        "Count over the selected time range, largest first. Open /resets on the agent's metrics port for the individual events (addresses, bytes, request, trace id, hint).",
      )
      .datasource(PROM)
      .withTarget(
        instant(
          `sort_desc(sum by (resetwatch_direction, server_address, server_port, resetwatch_phase, error_type) (${inRange(resets())}) > 0)`,
        ),
      )
      .withTransformation({ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'resets' } } })
      .sortBy([new common.TableSortByFieldStateBuilder().displayName('resets').desc(true)])
      .decimals(0),
    24,
    8,
  );

  // ── Keep-alive race ────────────────────────────────────────────────────────────────────────
  L.row('Is it the keep-alive race?', 103);
  L.add(
    tsPanel(
      40,
      'Reused-socket and idle-phase resets / s',
      "Reused socket: an HTTP request went out on a pooled keep-alive connection and met its reset or close at once, before any response (hints keepalive_race, middlebox_reset). Idle: a pooled connection was reset while no request was in flight (hint idle_reset). Both mean an idle timeout somewhere (server, load balancer, NAT) is shorter than the client's.",
      'reqps',
    )
      .withTarget(
        q(
          `sum by (resetwatch_phase) (${rate(`${M.idleBeforeReuse}_count{${T}, resetwatch_direction="client"}`)})`,
          'reused socket, {{resetwatch_phase}}',
          'A',
        ),
      )
      .withTarget(
        q(`sum(${rate(resets(', resetwatch_direction="client", resetwatch_phase="idle"'))})`, 'idle pooled connection', 'B').exemplar(true),
      ),
    12,
    9,
  );
  L.add(
    heatmapPanel(
      41,
      'Idle time before reuse, for reset requests',
      "How long the pooled socket sat idle before the request that was reset. A band just above a server's keep-alive timeout (Node http.Server: 5 s plus a 1 s buffer; many load balancers: 60 s) is the race.",
      M.idleBeforeReuse,
      's',
    ),
    12,
    9,
  );
  L.add(
    tsPanel(
      42,
      'Idle time before reuse: p50 / p90 / p99',
      "Quantiles of the idle time before reuse of reset requests, against Node's default server keep-alive timeout (5 s, dashed). Set the client's idle timeout below the smallest server or load balancer timeout.",
      's',
    )
      .withTarget(q(`histogram_quantile(0.5, sum by (le) (${rate(`${M.idleBeforeReuse}_bucket{${T}, ${D}}`)}))`, 'p50', 'A'))
      .withTarget(q(`histogram_quantile(0.9, sum by (le) (${rate(`${M.idleBeforeReuse}_bucket{${T}, ${D}}`)}))`, 'p90', 'B'))
      .withTarget(q(`histogram_quantile(0.99, sum by (le) (${rate(`${M.idleBeforeReuse}_bucket{${T}, ${D}}`)}))`, 'p99', 'C'))
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
      .thresholds(
        thresholds([
          [null, 'transparent'],
          [5, 'orange'],
        ]),
      ),
    24,
    7,
  );

  // ── How far connections got ────────────────────────────────────────────────────────────────
  L.row('How far connections got', 104);
  L.add(
    heatmapPanel(
      50,
      'Bytes received before the reset',
      'Bytes this process had read on the connection when it was reset. 0: reset before any response.',
      M.receivedBytes,
      'bytes',
    ),
    8,
    9,
  );
  L.add(
    heatmapPanel(
      51,
      'Bytes sent before the reset',
      'Bytes this process had written on the connection when it was reset.',
      M.sentBytes,
      'bytes',
    ),
    8,
    9,
  );
  L.add(
    heatmapPanel(
      52,
      'Connection age at the reset',
      'Time from connect (or accept) to the reset. Very young: connect or handshake problems; a band at a fixed age: an idle or lifetime timeout.',
      M.connectionAge,
      's',
    ),
    8,
    9,
  );
  L.add(
    new bargauge.PanelBuilder()
      .id(53)
      .title('Resets in range by phase')
      .description("Where in the connection's life the resets happened, over the selected time range.")
      .datasource(PROM)
      .withTarget(
        instant(`sum by (resetwatch_direction, resetwatch_phase) (${inRange(resets())})`)
          .format(prometheus.PromQueryFormat.TimeSeries)
          .legendFormat('{{resetwatch_direction}} {{resetwatch_phase}}'),
      )
      .displayMode(common.BarGaugeDisplayMode.Gradient)
      .orientation(common.VizOrientation.Horizontal)
      .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
      .unit('short')
      .decimals(0)
      .min(0),
    24,
    7,
  );

  // ── Traces ─────────────────────────────────────────────────────────────────────────────────
  L.row('Traces of resets', 105);
  L.add(
    new table.PanelBuilder()
      .id(70)
      .title('Traces of resets')
      .description(
        'resetwatch\'s "connection reset" spans in the traces data source ($traces), each a child of the request it broke when there was one; click a trace id to open it. Needs the OpenTelemetry exporter on the agent (docs/opentelemetry.md).',
      )
      .datasource(TRACES)
      .withTarget(
        new tempo.DataqueryBuilder()
          .datasource(TRACES)
          .refId('A')
          .queryType('traceql')
          .query('{ name = "connection reset" && span.resetwatch.direction =~ "${direction:regex}" }')
          .limit(20),
      ),
    24,
    8,
  );

  // ── Agent health ───────────────────────────────────────────────────────────────────────────
  L.row('Agent health', 106);
  L.add(
    tsPanel(
      60,
      'Agent own errors / s',
      'Errors resetwatch caught in its own hooks and exporters (never thrown into the app). Should be 0; see the ResetwatchAgentErrors runbook section.',
      'short',
    ).withTarget(q(`sum by (instance) (${rate(`${M.agentErrors}{${T}}`)})`, '{{instance}}')),
    6,
    7,
  );
  L.add(
    tsPanel(
      61,
      'Dropped events / s by exporter',
      'Reset events an exporter could not take (queue full, collector down, log rate limit). Metrics still count them. otel_metrics: data points of OTLP metric exports given up (no reset events; cumulative sums come again with the next export).',
      'short',
    ).withTarget(q(`sum by (resetwatch_exporter) (${rate(`${M.dropped}{${T}}`)})`, '{{resetwatch_exporter}}')),
    6,
    7,
  );
  L.add(
    tsPanel(
      62,
      'Scrape up',
      '1 when Prometheus scraped the resetwatch endpoint; only targets that served resetwatch metrics in the last hour.',
      'short',
    )
      .withTarget(q(`up{${T}} and on (job, instance) max_over_time(${M.info}{${T}}[1h])`, '{{instance}}'))
      .max(1),
    6,
    7,
  );
  L.add(
    tsPanel(
      63,
      'Peers folded into _OTHER / s',
      `Resets whose peer was folded into ${FOLDED_PEER} because RESETWATCH_MAX_PEERS distinct peers were already seen. Raise the limit if the top-peers panels show ${FOLDED_PEER}.`,
      'short',
    ).withTarget(q(`sum by (instance) (${rate(`${M.peersFolded}{${T}}`)})`, '{{instance}}')),
    6,
    7,
  );
  L.add(
    new table.PanelBuilder()
      .id(64)
      .title('Agent versions')
      .description('Processes running resetwatch, by resetwatch and Node versions.')
      .datasource(PROM)
      .withTarget(instant(`count by (job, version, node_version) (${M.info}{${T}})`))
      .withTransformation({ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'processes' } } }),
    24,
    5,
  );
  L.add(
    new text.PanelBuilder()
      .id(65)
      .title('About')
      .mode(text.TextMode.Markdown)
      .content(
        'Generated from `dashboards/overview.ts` in the resetwatch repository; do not edit in Grafana, change the source and regenerate. ' +
          "Each alert links to a section of the runbook (`docs/runbook.md`). For individual resets open `/resets` on the agent's metrics port.",
      ),
    24,
    3,
  );

  return b.build();
}
