// Prometheus exporter (prom-client): metrics on a private Registry, served by its own endpoint.
// Stub: filled in by the Prometheus exporter issue.
import { Registry } from 'prom-client';
import type { Exporter } from './types';

/** resetwatch's own registry, for apps that serve their own /metrics. The default registry is never touched. */
export const registry = new Registry();

export const prometheusExporter: Exporter = {
  name: 'prometheus',
  start() {},
};
