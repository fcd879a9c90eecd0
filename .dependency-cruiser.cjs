// Import rules, checked by test/structure.test.mjs over the compiled agent (dist/) and the plain
// JavaScript of the tests, benchmarks and demo. The tree is meant to read as one data flow:
// agent/hooks → agent/classify → agent/bus → exporters/<output>; only agent/register knows both sides.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle anywhere: a cycle hides load order and forces lazy requires.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-never-imports-outputs',
      severity: 'error',
      comment: 'agent/ is the core; only agent/register (the wiring) knows the outputs.',
      from: { path: '^dist/agent/', pathNot: '^dist/agent/register\\.js$' },
      to: { path: '^dist/exporters/' },
    },
    {
      name: 'outputs-stay-apart',
      severity: 'error',
      comment: 'One output never imports another: what they share lives in exporters/shared or agent/contract.',
      from: { path: '^dist/exporters/(log|prometheus|otel)/' },
      to: { path: '^dist/exporters/(log|prometheus|otel)/', pathNot: '^dist/exporters/$1/' },
    },
    {
      name: 'otel-without-prom-client',
      severity: 'error',
      comment: 'The OpenTelemetry output must not load prom-client.',
      from: { path: '^dist/exporters/otel/' },
      to: { path: 'node_modules/prom-client/' },
    },
    {
      name: 'outputs-not-into-hooks',
      severity: 'error',
      comment: 'Outputs use the core through its modules (bus, stats, sockets, contract), never a hook.',
      from: { path: '^dist/exporters/' },
      to: { path: '^dist/agent/hooks/' },
    },
    {
      name: 'outputs-not-into-the-wiring',
      severity: 'error',
      comment: 'Nothing but the package entry loads agent/register.',
      from: { pathNot: '^dist/agent/index\\.(js|mjs)$' },
      to: { path: '^dist/agent/register\\.js$' },
    },
    {
      name: 'dashboards-read-the-contract',
      severity: 'error',
      comment: 'The dashboards generator reads the contract and the public types, nothing of the agent at work.',
      from: { path: '^dist/dashboards/' },
      to: { path: '^dist/(agent|exporters)/', pathNot: '^dist/agent/(contract|types)\\.js$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|fixtures/tls|fixtures/otel-tls)/' },
    moduleSystems: ['cjs', 'es6'],
    tsPreCompilationDeps: false,
  },
};
