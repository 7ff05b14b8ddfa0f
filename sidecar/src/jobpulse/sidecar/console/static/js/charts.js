// Small SVG charts drawn from numbers: a sparkline, a line chart of a few series over time, and
// horizontal bars. Each is an image with a text alternative; views put the numbers in a table too.

import { s } from './dom.js';

function extent(values) {
  const finite = values.filter((value) => Number.isFinite(value));
  if (finite.length === 0) return null;
  return [Math.min(...finite), Math.max(...finite)];
}

function points(values, x, y) {
  return values.map((value, index) => (Number.isFinite(value) ? `${x(index).toFixed(1)},${y(value).toFixed(1)}` : null));
}

// Runs of consecutive points, so a missing value leaves a gap instead of a misleading line.
function runs(coordinates) {
  const result = [];
  let current = [];
  for (const point of coordinates) {
    if (point === null) {
      if (current.length) result.push(current);
      current = [];
    } else {
      current.push(point);
    }
  }
  if (current.length) result.push(current);
  return result;
}

/** A tiny line of `values` (nulls leave gaps); `label` describes it for screen readers. */
export function sparkline(values, { label, width = 120, height = 28 } = {}) {
  const range = extent(values);
  const svg = s('svg', {
    class: 'sparkline', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label,
  });
  if (!range) return svg;
  const [low, high] = range;
  const span = high - low || 1;
  const x = (index) => (values.length === 1 ? width / 2 : (index / (values.length - 1)) * (width - 4) + 2);
  const y = (value) => height - 3 - ((value - low) / span) * (height - 6);
  for (const run of runs(points(values, x, y))) {
    svg.append(run.length === 1
      ? s('circle', { cx: run[0].split(',')[0], cy: run[0].split(',')[1], r: 1.5 })
      : s('polyline', { points: run.join(' ') }));
  }
  return svg;
}

/**
 * Lines over shared x positions: `series` is `[{name, values}]` with one value (or null) per label
 * of `xLabels`. `yMax` fixes the scale's top (1 for rates); `format` writes axis values.
 */
export function lineChart({ series, xLabels, label, format = String, yMax = null, width = 320, height = 140 }) {
  const left = 44;
  const bottom = 20;
  const top = 8;
  const right = 8;
  const all = series.flatMap((line) => line.values);
  const range = extent(all) ?? [0, 1];
  const high = yMax ?? (range[1] > 0 ? range[1] * 1.1 : 1);
  const x = (index) => left + (xLabels.length <= 1 ? (width - left - right) / 2
    : (index / (xLabels.length - 1)) * (width - left - right));
  const y = (value) => top + (1 - value / high) * (height - top - bottom);
  const svg = s('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet',
  });
  for (const tick of [0, high / 2, high]) {
    svg.append(
      s('line', { class: 'grid', x1: left, x2: width - right, y1: y(tick), y2: y(tick) }),
      s('text', { class: 'axis', x: left - 4, y: y(tick) + 3, 'text-anchor': 'end' }, format(tick)),
    );
  }
  if (xLabels.length) {
    svg.append(s('text', { class: 'axis', x: x(0), y: height - 4, 'text-anchor': 'start' }, xLabels[0]));
    if (xLabels.length > 1) {
      svg.append(s('text', { class: 'axis', x: x(xLabels.length - 1), y: height - 4, 'text-anchor': 'end' }, xLabels.at(-1)));
    }
  }
  series.forEach((line, index) => {
    const group = s('g', { class: `series series-${index % 6}` });
    for (const run of runs(points(line.values, x, y))) {
      if (run.length > 1) group.append(s('polyline', { points: run.join(' ') }));
      for (const point of run) {
        const [cx, cy] = point.split(',');
        group.append(s('circle', { cx, cy, r: 2.5 }));
      }
    }
    svg.append(group);
  });
  return svg;
}

/**
 * Horizontal bars: `bars` is `[{label, value, high, marked}]`; `high` draws a whisker (a p95 beside
 * a median), `marked` highlights the bar (the bottleneck).
 */
export function barChart({ bars, label, format = String, width = 320 }) {
  const rowHeight = 22;
  const left = 110;
  const right = 64;
  const height = bars.length * rowHeight + 4;
  const high = Math.max(...bars.map((bar) => Math.max(bar.value ?? 0, bar.high ?? 0)), 0) || 1;
  const scale = (value) => ((value ?? 0) / high) * (width - left - right);
  const svg = s('svg', { class: 'chart bars', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  bars.forEach((bar, index) => {
    const top = index * rowHeight + 2;
    const name = bar.label.length > 16 ? `${bar.label.slice(0, 15)}…` : bar.label;
    svg.append(
      s('text', { class: 'axis', x: left - 6, y: top + 14, 'text-anchor': 'end' }, name),
      s('rect', { class: bar.marked ? 'bar marked' : 'bar', x: left, y: top + 3, width: Math.max(scale(bar.value), 1), height: rowHeight - 8 }),
    );
    if (bar.high !== null && bar.high !== undefined) {
      const end = left + scale(bar.high);
      svg.append(s('line', { class: 'whisker', x1: left + scale(bar.value), x2: end, y1: top + 10, y2: top + 10 }),
        s('line', { class: 'whisker', x1: end, x2: end, y1: top + 5, y2: top + 15 }));
    }
    svg.append(s('text', { class: 'axis', x: left + scale(Math.max(bar.value ?? 0, bar.high ?? 0)) + 4, y: top + 14 }, format(bar.value)));
  });
  return svg;
}
