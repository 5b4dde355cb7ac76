'use strict';
// Small statistics and formatting helpers for the benchmarks.

/** Percentile p (0..100) of an array of numbers, nearest-rank on a sorted copy. */
function percentile(values, p) {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1];
}

const median = (values) => percentile(values, 50);

/** Numbers with a sensible number of digits for a table cell. */
function fmt(n, digits) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return String(n);
  if (digits !== undefined) return n.toFixed(digits);
  const a = Math.abs(n);
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

function markdownTable(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

module.exports = { percentile, median, fmt, markdownTable };
