// Number formatting shared by the harness's live summary and bench/report.js.
'use strict';

/** About three significant digits; thousands with separators. */
function fmt(x) {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** A figure beside its target: four significant digits below 100, so that 1.0204 is not shown as the 1.02 it misses. */
function fmtTarget(x) {
  if (x === Infinity) return '∞ (B added nothing measurable)';
  return Number.isFinite(x) && Math.abs(x) < 100 ? String(Number(x.toPrecision(4))) : fmt(x);
}

module.exports = { fmt, fmtTarget };
