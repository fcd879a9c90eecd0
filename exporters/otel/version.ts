// The package version, for the instrumentation scope of our tracer and meter.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../../../package.json') as { version: string }).version;
