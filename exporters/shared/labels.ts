// The constant labels of this process (RESETWATCH_LABELS, start({ labels })), already validated
// and bounded by agent/config.ts. Every output adds them in its own way: Prometheus as labels of
// every series it serves, logs as fields of every line, OpenTelemetry in the Resource of
// resetwatch's private providers (README "Constant labels").
let labels: Readonly<Record<string, string>> = Object.freeze({});

/** Set by the agent before the outputs start. */
export function setConstantLabels(next: Readonly<Record<string, string>>): void {
  labels = next;
}

export function constantLabels(): Readonly<Record<string, string>> {
  return labels;
}
