// What every exporter implements: start from the resolved config, subscribe to the bus, and give
// back a stop function. Exporters never throw out of start (the registry guards them anyway).
import type { Config } from '../agent/config';
import type { OutputName } from '../agent/contract';

export interface ExporterContext {
  config: Config;
  /** False in worker threads: they must not bind ports (README "Workers and forks"). */
  isMainThread: boolean;
  /** Started in the event loop's first turn (a preload's outputs): no need to wait for it. */
  turned: boolean;
}

export interface Exporter {
  /** One of OUTPUTS (agent/contract.ts): the `exporter` label of the dropped-events counter. */
  name: OutputName;
  start(ctx: ExporterContext): (() => void) | undefined;
}
