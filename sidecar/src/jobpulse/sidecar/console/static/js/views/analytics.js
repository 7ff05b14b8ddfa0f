// Analytics: success rate and duration percentiles per job type (or name) over time, the bottleneck
// steps of a job, and errors by exception type — small charts drawn here, with the numbers in tables.

import { AuthRequired, get } from '../api.js';
import { barChart, lineChart } from '../charts.js';
import { fill, h } from '../dom.js';
import * as formats from '../format.js';
import { keepParams, navigate } from '../router.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Each period: its span, the API's trend bucket, and how many windows the duration percentiles are
// computed over (the API gives percentiles per period, not per bucket: one request per window).
const PERIODS = {
  '24h': { text: 'Last 24 hours', span: DAY, bucket: 'hour', windows: 8 },
  '7d': { text: 'Last 7 days', span: 7 * DAY, bucket: 'day', windows: 7 },
  '30d': { text: 'Last 30 days', span: 30 * DAY, bucket: 'day', windows: 10 },
};
const GROUPINGS = { job_type: 'Job type', name: 'Job name' };

// The API's day buckets are UTC days, so a day is named by its UTC date, on both charts alike: the
// same name is the same day on each.
const shortDate = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const shortHour = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function bucketStarts(since, until, bucket) {
  const size = bucket === 'hour' ? HOUR : DAY;
  const starts = [];
  for (let start = Math.floor(since / size) * size; start < until; start += size) starts.push(start);
  return starts;
}

function labelOf(moment, bucket) {
  return bucket === 'hour' ? shortHour.format(moment) : shortDate.format(moment);
}

function grainText(bucket) {
  return bucket === 'day' ? 'day (UTC)' : 'hour';
}

// "3 hours", "1 day": the length of a duration window.
function spanText(span) {
  return span < DAY ? formats.counted(span / HOUR, 'hour') : formats.counted(span / DAY, 'day');
}

// A bucket's success rate taken as the group's is: completed over ended runs, none while none ended.
function successOf(point) {
  return point && point.ended_runs ? point.completed_runs / point.ended_runs : null;
}

// "Dec 1: 50.0 %, Dec 2: none ended": a chart's numbers, each with its x label, for its text alternative.
function described(labels, values, write) {
  return labels.map((text, index) => `${text}: ${write(values[index], index)}`).join(', ');
}

function seconds(value) {
  return formats.duration(value);
}

function legend(names) {
  return h('ul', { class: 'legend' }, names.map((name, index) => h('li', { class: `series-${index % 6}` }, h('span', { class: 'swatch' }), name)));
}

/**
 * A group's card: its summary, its success rate per bucket of `starts`, and its duration percentiles
 * per window of `windows` (`{answers, labels, span, text}`: an answer of the API and an x label each).
 */
function groupCard(group, starts, bucket, windows) {
  const byStart = new Map(group.trend.map((point) => [Date.parse(point.bucket_start), point]));
  const success = starts.map((start) => successOf(byStart.get(start)));
  const xLabels = starts.map((start) => labelOf(start, bucket));
  const stats = windows.answers.map((answer) => answer.groups.find((item) => item.key === group.key)?.duration_s);
  const p50 = stats.map((durations) => durations?.p50 ?? null);
  const p95 = stats.map((durations) => durations?.p95 ?? null);
  const name = group.key ?? '(none)';
  return h('article', { class: 'panel', 'aria-label': name },
    h('h3', {}, formats.label(name)),
    h('p', { class: 'meta' },
      `${formats.counted(group.runs, 'run')} · success ${formats.ratio(group.success_rate)} · p50 ${seconds(group.duration_s.p50)} · p95 ${seconds(group.duration_s.p95)}`),
    h('figure', {},
      lineChart({
        series: [{ name: 'success rate', values: success }],
        xLabels,
        yMax: 1,
        format: (value) => `${Math.round(value * 100)}%`,
        label: `Success rate of ${name} per ${grainText(bucket)}, completed over ended runs: ${described(xLabels, success, (value) => (value === null ? 'none ended' : formats.ratio(value)))}`,
      }),
      h('figcaption', {}, `Success rate per ${grainText(bucket)}: completed over ended runs (no point while none ended)`)),
    h('figure', {},
      lineChart({
        series: [{ name: 'p50', values: p50 }, { name: 'p95', values: p95 }],
        xLabels: windows.labels,
        format: seconds,
        label: `Duration of ${name}, p50 / p95 of the completed runs that started in each of ${windows.text}: ${described(windows.labels, p50, (value, index) => `${seconds(value)} / ${seconds(p95[index])}`)}`,
      }),
      h('figcaption', {}, `Duration of completed runs per window of ${spanText(windows.span)}, named by its end `, legend(['p50', 'p95']))));
}

function summaryTable(groups, grouping) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', {}, `Runs by ${GROUPINGS[grouping].toLowerCase()}`),
    h('thead', {}, h('tr', {}, [GROUPINGS[grouping], 'Runs', 'Completed', 'Failed', 'Success rate', 'p50', 'p95', 'Longest', 'Records/s']
      .map((header) => h('th', { scope: 'col' }, header)))),
    h('tbody', {}, groups.map((group) => h('tr', {},
      h('th', { scope: 'row' }, group.key ?? '(none)'),
      h('td', { class: 'number' }, formats.count(group.runs)),
      h('td', { class: 'number' }, formats.count(group.completed)),
      h('td', { class: 'number' }, formats.count(group.failed)),
      h('td', { class: 'number' }, formats.ratio(group.success_rate)),
      h('td', { class: 'number' }, seconds(group.duration_s.p50)),
      h('td', { class: 'number' }, seconds(group.duration_s.p95)),
      h('td', { class: 'number' }, seconds(group.duration_s.max)),
      h('td', { class: 'number' }, formats.rate(group.records_per_s).replace(' /s', '')))))));
}

function stepsBlock(answer) {
  if (!answer || answer.steps.length === 0) return h('p', { class: 'empty' }, 'No step timings for this job in the period.');
  const bottleneck = answer.steps.find((step) => step.bottleneck);
  return [
    bottleneck ? h('p', { dataset: { field: 'bottleneck' } }, `Bottleneck: ${bottleneck.name}, ${formats.ratio(bottleneck.share_of_total)} of the run time (p50 ${seconds(bottleneck.duration_s.p50)}).`) : null,
    h('figure', {}, barChart({
      bars: answer.steps.map((step) => ({ label: step.name, value: step.duration_s.p50, high: step.duration_s.p95, marked: step.bottleneck })),
      format: seconds,
      label: `Median step durations of ${answer.job_name}: ${answer.steps.map((step) => `${step.name} ${seconds(step.duration_s.p50)}`).join(', ')}`,
    }), h('figcaption', {}, 'Median duration per step (the line reaches the p95); the bottleneck is highlighted')),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', {}, `Steps of ${answer.job_name}`),
      h('thead', {}, h('tr', {}, ['Step', 'Runs', 'Failed', 'p50', 'p95', 'Share', 'Bottleneck'].map((header) => h('th', { scope: 'col' }, header)))),
      h('tbody', {}, answer.steps.map((step) => h('tr', {},
        h('th', { scope: 'row' }, step.name),
        h('td', { class: 'number' }, formats.count(step.runs)),
        h('td', { class: 'number' }, formats.count(step.failed)),
        h('td', { class: 'number' }, seconds(step.duration_s.p50)),
        h('td', { class: 'number' }, seconds(step.duration_s.p95)),
        h('td', { class: 'number' }, formats.ratio(step.share_of_total)),
        h('td', {}, step.bottleneck ? 'yes' : ''))))))];
}

function errorsTable(errors) {
  if (errors.length === 0) return h('p', { class: 'empty' }, 'No failed runs in the period.');
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', {}, 'Failed runs by exception type'),
    h('thead', {}, h('tr', {}, ['Exception', 'Runs', 'Last seen', 'Example', 'Jobs'].map((header) => h('th', { scope: 'col' }, header)))),
    h('tbody', {}, errors.map((error) => h('tr', {},
      h('th', { scope: 'row' }, error.error_type ?? '(none)'),
      h('td', { class: 'number' }, formats.count(error.count)),
      h('td', {}, formats.when(error.last_seen)),
      h('td', {}, error.example_message ?? formats.DASH),
      h('td', {}, error.job_names.join(', ')))))));
}

export function mount(container, ctx, route) {
  const controller = new AbortController();
  const periodKey = PERIODS[route.params.get('period')] ? route.params.get('period') : '7d';
  const grouping = GROUPINGS[route.params.get('group_by')] ? route.params.get('group_by') : 'job_type';
  const period = PERIODS[periodKey];
  const periodSelect = h('select', { id: 'analytics-period' }, Object.entries(PERIODS).map(([key, item]) => h('option', { value: key }, item.text)));
  periodSelect.value = periodKey;
  const groupSelect = h('select', { id: 'analytics-group' }, Object.entries(GROUPINGS).map(([key, text]) => h('option', { value: key }, text)));
  groupSelect.value = grouping;
  const nameSelect = h('select', { id: 'analytics-name' });
  const groups = h('div', { class: 'panels' }, h('p', {}, 'Loading…'));
  const summary = h('div', {});
  const steps = h('div', {});
  const errors = h('div', {});
  const problem = h('p', { class: 'form-error', role: 'alert' });

  container.append(
    h('h1', { tabindex: '-1' }, 'Analytics'),
    h('form', { class: 'filters', 'aria-label': 'Analytics period' },
      h('div', { class: 'field' }, h('label', { for: 'analytics-period' }, 'Period'), periodSelect),
      h('div', { class: 'field' }, h('label', { for: 'analytics-group' }, 'Group by'), groupSelect)),
    problem,
    h('section', { 'aria-labelledby': 'groups-heading' }, h('h2', { id: 'groups-heading' }, `Success rate and durations by ${GROUPINGS[grouping].toLowerCase()}`), groups, summary),
    h('section', { 'aria-labelledby': 'steps-heading' }, h('h2', { id: 'steps-heading' }, 'Bottleneck steps'),
      h('div', { class: 'field' }, h('label', { for: 'analytics-name' }, 'Job name'), nameSelect), steps),
    h('section', { 'aria-labelledby': 'errors-heading' }, h('h2', { id: 'errors-heading' }, 'Errors'), errors));

  const change = () => navigate('analytics', [], { period: periodSelect.value, group_by: groupSelect.value, name: nameSelect.value });
  periodSelect.addEventListener('change', change);
  groupSelect.addEventListener('change', change);

  const until = Date.now();
  const since = until - period.span;
  const iso = (moment) => new Date(moment).toISOString();
  const options = { signal: controller.signal };

  async function loadSteps(name) {
    keepParams('analytics', [], { period: periodKey, group_by: grouping, name });
    if (!name) {
      fill(steps, h('p', { class: 'empty' }, 'No job ran in the period.'));
      return;
    }
    const answer = await get('/api/analytics/steps', { name, since: iso(since), until: iso(until) }, options);
    fill(steps, stepsBlock(answer));
  }

  async function load() {
    try {
      const width = period.span / period.windows;
      const windowStarts = Array.from({ length: period.windows }, (_, index) => since + index * width);
      const [main, names, ...answers] = await Promise.all([
        get('/api/analytics', { since: iso(since), until: iso(until), group_by: grouping, bucket: period.bucket }, options),
        get('/api/analytics', { since: iso(since), until: iso(until), group_by: 'name', bucket: period.bucket }, options),
        ...windowStarts.map((start) => get('/api/analytics', { since: iso(start), until: iso(start + width), group_by: grouping, bucket: period.bucket }, options)),
      ]);
      const starts = bucketStarts(since, until, period.bucket);
      // A window is named by its end (a bucket beside it by its start), so that both charts of a card
      // end on the same name: the present, today or this hour.
      const grain = width < DAY ? 'hour' : 'day';
      const windows = {
        answers,
        labels: windowStarts.map((start) => labelOf(start + width, grain)),
        span: width,
        text: `${formats.counted(period.windows, 'window')} of ${spanText(width)} up to now, named by the ${grain === 'day' ? 'day (UTC)' : 'time'} each ends`,
      };
      fill(groups, main.groups.length
        ? main.groups.map((group) => groupCard(group, starts, period.bucket, windows))
        : h('p', { class: 'empty' }, 'No job ran in the period.'));
      fill(summary, main.groups.length ? summaryTable(main.groups, grouping) : null);
      fill(errors, errorsTable(main.errors));
      const jobNames = names.groups.map((group) => group.key).filter(Boolean).sort();
      fill(nameSelect, jobNames.map((name) => h('option', { value: name }, name)));
      const wanted = route.params.get('name');
      nameSelect.value = jobNames.includes(wanted) ? wanted : (jobNames[0] ?? '');
      nameSelect.addEventListener('change', () => loadSteps(nameSelect.value).catch(report));
      await loadSteps(nameSelect.value);
    } catch (failure) {
      report(failure);
    }
  }

  function report(failure) {
    if (failure.name === 'AbortError' || failure instanceof AuthRequired) return;
    problem.textContent = `Analytics could not be loaded: ${failure.message}`;
  }

  load();
  return { title: 'Analytics', unmount: () => controller.abort() };
}
