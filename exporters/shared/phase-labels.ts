// A reset's {direction, phase} labels (Prometheus) or attributes (OpenTelemetry), as one frozen
// object per pair reused for every reset: no object per reset, and the same small object for the
// SDK or prom-client to hash. Found by two property reads, not a key string built per reset
// (bounded: 2 directions × 6 phases).
import type { Direction, Phase } from '../../agent/types';

export type PhaseLabels = Readonly<Record<string, string>>;

/** A look-up of the pair's object under these two key names, each built once. */
export function phaseLabels(directionKey: string, phaseKey: string): (direction: Direction, phase: Phase) => PhaseLabels {
  const cache: Record<Direction, Partial<Record<Phase, PhaseLabels>>> = { client: {}, server: {} };
  return (direction, phase) => {
    const byPhase = cache[direction];
    let labels = byPhase[phase];
    if (labels === undefined) {
      labels = Object.freeze({ [directionKey]: direction, [phaseKey]: phase });
      byPhase[phase] = labels;
    }
    return labels;
  };
}
