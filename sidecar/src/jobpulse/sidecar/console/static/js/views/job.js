// One job: its figures, controls, error with suggested actions, steps, resources, log and control
// history. Live from the feed while the job runs; from REST once it has ended.

import { AuthRequired, ApiError, get } from '../api.js';
import { sparkline } from '../charts.js';
import { ControlPanel } from '../controls.js';
import { fill, h, setAttr, setText } from '../dom.js';
import * as formats from '../format.js';
import { isEnded } from '../jobs.js';
import { JobError, JobFigures } from '../jobcard.js';
import { LogPanel } from '../logs.js';
import { routeHref } from '../router.js';

const REFRESH_MS = 1000;

function section(id, title, ...children) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function table(caption, headers, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
    h('tbody', {}, rows)));
}

function stepRows(detail, now) {
  const started = new Set((detail.steps ?? []).map((step) => step.name));
  // Declared steps the job has not reached yet have their place in the timeline too.
  const waiting = (detail.step_names ?? []).filter((name) => !started.has(name))
    .map((name) => ({ name, state: 'not started', started_at: null, duration_s: null, runs: 0 }));
  const steps = [...(detail.steps ?? []), ...waiting];
  if (steps.length === 0) return null;
  const durations = steps.map((step) => step.duration_s
    ?? (step.state === 'running' && step.started_at ? (now - Date.parse(step.started_at)) / 1000 : null));
  const longest = Math.max(...durations.filter((value) => value !== null), 0) || 1;
  const timeline = h('ol', { class: 'timeline' }, steps.map((step, index) => {
    const bar = h('span', { class: 'bar', dataset: { state: step.state } });
    bar.style.width = durations[index] === null ? '0' : `${Math.max((durations[index] / longest) * 100, 1)}%`;
    return h('li', { dataset: { state: step.state } },
      h('span', { class: 'name' }, step.name),
      h('span', { class: 'track' }, bar),
      h('span', { class: 'value' }, `${formats.duration(durations[index])}${step.state === 'running' ? ' so far' : ''}`));
  }));
  const rows = steps.map((step, index) => h('tr', {},
    h('th', { scope: 'row' }, step.name),
    h('td', {}, formats.label(step.state)),
    h('td', {}, formats.when(step.started_at)),
    h('td', {}, formats.duration(durations[index])),
    h('td', {}, formats.count(step.runs))));
  return [timeline, table('Steps', ['Step', 'State', 'Started', 'Duration', 'Runs'], rows)];
}

function commandRows(commands) {
  return commands.map((command) => h('tr', { dataset: { state: command.state } },
    h('td', {}, formats.label(command.action)),
    h('td', {}, command.requested_by ?? formats.DASH),
    h('td', {}, formats.when(command.requested_at)),
    h('td', {}, command.reason ?? formats.DASH),
    h('td', {}, h('span', { class: 'badge command', dataset: { state: command.state } }, command.state)),
    h('td', {}, formats.when(command.resolved_at))));
}

export function mount(container, ctx, route) {
  const { board } = ctx;
  const jobId = route.args[0] ?? '';
  const controller = new AbortController();
  const title = h('h1', { tabindex: '-1' }, jobId);
  const figures = new JobFigures();
  const error = new JobError();
  const reason = h('input', { id: 'control-reason', type: 'text', maxlength: 1000, autocomplete: 'off' });
  const reasonField = h('div', { class: 'field grow' }, h('label', { for: 'control-reason' }, 'Reason (optional)'), reason);
  const controls = new ControlPanel(ctx, { reasonInput: reason });
  const facts = h('dl', { class: 'facts' });
  const stack = h('details', { hidden: true }, h('summary', {}, 'Stack trace'), h('pre', {}));
  const steps = h('div', {});
  const resources = h('div', { class: 'resources' });
  const history = h('div', {});
  const logSlot = h('div', {});
  const problem = h('p', { class: 'form-error', role: 'alert' });
  const controlSection = section('control-heading', 'Control', h('div', { class: 'control-row' }, reasonField), controls.element);
  const errorSection = section('error-heading', 'Error', error.element, stack);

  let detail = null;
  let logs = null;
  let lastRefresh = 0;
  let refreshTimer = 0;
  let commandsShown = '';

  container.append(
    h('p', { class: 'crumbs' }, h('a', { href: routeHref('active') }, 'Active jobs'), ' › ', h('a', { href: routeHref('history') }, 'History')),
    title, figures.badges, problem,
    h('div', { class: 'detail-grid' },
      section('progress-heading', 'Progress', figures.progress, figures.figures),
      section('facts-heading', 'Job', facts)),
    controlSection,
    errorSection,
    section('steps-heading', 'Steps', steps),
    section('resources-heading', 'Resources', resources),
    logSlot,
    section('history-heading', 'Control history', history));

  function current() {
    return board.jobs.get(jobId) ?? detail;
  }

  function renderFacts(job) {
    const rows = [
      ['Job id', h('code', {}, job.id)],
      ['Type', formats.label(job.job_type)],
      ['Owner', job.owner ?? formats.DASH],
      ['Host', job.host ? `${job.host}${job.pid ? ` (pid ${job.pid})` : ''}` : formats.DASH],
      ['Service', job.service ?? formats.DASH],
      ['Trace id', job.trace_id ? h('code', { dataset: { field: 'trace-id' } }, job.trace_id) : formats.DASH],
      ['Started', formats.when(job.started_at)],
      ['Ended', formats.when(job.ended_at)],
      ['Expected duration', formats.duration(job.expected_duration_s)],
    ];
    // Rebuilt only when something changed, so a selection (of the trace id, say) survives the ticks.
    const signature = rows.map(([, value]) => (value instanceof Node ? value.textContent : value)).join('\n');
    if (facts.dataset.signature === signature) return;
    facts.dataset.signature = signature;
    fill(facts, rows.map(([name, value]) => h('div', {}, h('dt', {}, name), h('dd', {}, value))));
  }

  function renderResources(job) {
    const samples = job.samples ?? [];
    const memory = samples.map((sample) => sample.memory);
    const cpu = samples.map((sample) => sample.cpu);
    const latest = detail?.resources;
    const memoryNow = job.memory_rss_bytes ?? latest?.memory_rss_bytes ?? null;
    const cpuNow = job.cpu_percent ?? latest?.cpu_percent ?? null;
    const describe = (values, format) => {
      const known = values.filter((value) => value !== null);
      return known.length ? `from ${format(Math.min(...known))} to ${format(Math.max(...known))} over ${formats.counted(known.length, 'sample')}` : 'no samples yet';
    };
    fill(resources,
      h('div', { class: 'resource' }, h('span', { class: 'name' }, 'Memory (RSS)'),
        sparkline(memory, { label: `Memory ${describe(memory, formats.bytes)}` }), h('span', { class: 'value', dataset: { field: 'memory' } }, formats.bytes(memoryNow))),
      h('div', { class: 'resource' }, h('span', { class: 'name' }, 'CPU'),
        sparkline(cpu, { label: `CPU ${describe(cpu, (value) => formats.percent(value))}` }), h('span', { class: 'value', dataset: { field: 'cpu' } }, formats.percent(cpuNow))),
      h('p', { class: 'meta' },
        `Threads ${formats.count(latest?.threads)} · open files ${formats.count(latest?.open_fds)} · sampled ${formats.when(latest?.sampled_at)}`,
        samples.length ? ` · ${formats.counted(samples.length, 'sample')} since this page opened` : ''));
  }

  async function refreshCommands() {
    try {
      const answer = await get(`/api/jobs/${encodeURIComponent(jobId)}/commands`, undefined, { signal: controller.signal });
      const key = JSON.stringify(answer.commands);
      if (key === commandsShown) return;
      commandsShown = key;
      fill(history, answer.commands.length
        ? table('Pause, resume and cancel requests', ['Action', 'By', 'Requested', 'Reason', 'Outcome', 'Resolved'], commandRows(answer.commands))
        : h('p', { class: 'empty' }, 'Nobody has paused, resumed or cancelled this job.'));
    } catch (failure) {
      if (failure.name !== 'AbortError' && !(failure instanceof AuthRequired)) setText(problem, failure.message);
    }
  }

  async function refreshSuggestions(job) {
    if (job.status !== 'failed' || board.failureAlert(jobId)) return;
    try {
      const answer = await get('/api/alerts', { job_id: jobId, rule: 'job_failed', limit: 1 }, { signal: controller.signal });
      if (answer.items.length) board.setAlerts(answer.items);
    } catch {
      // Without an alert there are no suggested actions to show; the error itself still is.
    }
  }

  function render() {
    const job = current();
    if (!job) return;
    const now = Date.now();
    setText(title, job.name ?? job.id);
    document.title = `${job.name ?? job.id} · jobpulse`;
    figures.update(job, board, now);
    error.update(job, board.failureAlert(jobId));
    const trace = detail?.error?.stacktrace;
    setAttr(stack, 'hidden', !trace);
    if (trace) setText(stack.querySelector('pre'), trace);
    controls.update(job);
    setAttr(controlSection, 'hidden', isEnded(job));
    setAttr(errorSection, 'hidden', !job.error);
    renderFacts(job);
    renderResources(job);
    if (detail) fill(steps, stepRows(detail, now) ?? h('p', { class: 'empty' }, 'This job declared no steps.'));
  }

  async function load() {
    try {
      detail = await get(`/api/jobs/${encodeURIComponent(jobId)}`, undefined, { signal: controller.signal });
    } catch (failure) {
      if (failure.name === 'AbortError' || failure instanceof AuthRequired) return;
      setText(title, failure instanceof ApiError && failure.status === 404 ? `No job ${jobId}` : jobId);
      setText(problem, failure.message);
      return;
    }
    lastRefresh = Date.now();
    render();
    if (!logs) {
      logs = new LogPanel(ctx, detail, { live: !isEnded(detail) });
      logSlot.append(logs.element);
      logs.start(detail.recent_logs ?? []);
    }
    refreshCommands();
    refreshSuggestions(current());
  }

  // Steps and the command history come from REST: fetch them again when the job moves, at most once
  // a second.
  function scheduleRefresh() {
    if (refreshTimer) return;
    const wait = Math.max(0, REFRESH_MS - (Date.now() - lastRefresh));
    refreshTimer = setTimeout(() => {
      refreshTimer = 0;
      load();
    }, wait);
  }

  function onChange(event) {
    if (!event.detail.changed.has(jobId) && event.detail.alerts.length === 0) return;
    render();
    if (event.detail.changed.has(jobId)) scheduleRefresh();
  }

  board.addEventListener('change', onChange);
  const ticker = setInterval(render, REFRESH_MS);
  load();
  return {
    title: 'Job',
    unmount() {
      controller.abort();
      board.removeEventListener('change', onChange);
      clearInterval(ticker);
      clearTimeout(refreshTimer);
      logs?.stop();
    },
  };
}
