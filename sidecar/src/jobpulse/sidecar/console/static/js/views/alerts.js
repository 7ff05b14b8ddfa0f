// Alerts: what fires now (live), the scheduled job names and types (is each run on time?), what fired
// lately, silences (create and expire), and how each notification was delivered, attempt by attempt.

import { AuthRequired, ApiError, del, get, post } from '../api.js';
import { maySilence } from '../auth.js';
import { fill, h, setText } from '../dom.js';
import * as formats from '../format.js';
import { routeHref } from '../router.js';

const RULES = ['job_failed', 'job_overdue', 'job_predicted_overrun', 'job_stalled', 'job_lost', 'job_missed', 'resource_pressure', 'error_rate', 'alertmanager'];
const UNITS = { 60: 'minutes', 3600: 'hours', 86400: 'days' };
const RESULTS = ['sending', 'retrying', 'sent', 'failed', 'dropped'];
// Due times move on as time passes: the schedules are read again this often (and when alerts change).
const SCHEDULES_REFRESH_MS = 10_000;
const SCHEDULE_STATES = { ok: 'on time', late: 'late', missed: 'missed' };
const DELIVERY_HEADERS = ['Created', 'Alert', 'Event', 'Channel', 'Attempts', 'Result', 'Last attempt', 'Sent', 'Error'];

function table(caption, headers, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((header) => h('th', { scope: 'col' }, header)))),
    h('tbody', {}, rows)));
}

function severity(alert) {
  return h('span', { class: 'badge severity', dataset: { severity: alert.severity } }, alert.severity);
}

function timing(schedule) {
  if (!schedule.cron) return `every ${formats.duration(schedule.every_s)}`;
  return [h('code', {}, schedule.cron), schedule.timezone === 'UTC' ? ' UTC' : ` ${schedule.timezone}`];
}

function scheduleRow(schedule) {
  const last = schedule.last_run;
  return h('tr', { dataset: { schedule: schedule.name, state: schedule.state } },
    h('th', { scope: 'row' }, schedule.match === 'job_type' ? `type ${schedule.name}` : schedule.name,
      h('span', { class: 'meta' }, ` (${schedule.source})`)),
    h('td', {}, timing(schedule)),
    h('td', {}, formats.duration(schedule.grace_s)),
    h('td', {}, formats.when(schedule.expected_at)),
    h('td', {}, last
      ? [h('a', { href: routeHref('job', [last.job_id]) }, formats.when(last.started_at)), ' ',
        h('span', { class: 'badge status', dataset: { status: last.status } }, last.status)]
      : 'none known'),
    h('td', {}, h('span', { class: 'badge schedule', dataset: { state: schedule.state } }, SCHEDULE_STATES[schedule.state] ?? schedule.state)));
}

// Most attempts take well under a second: milliseconds say more than "0.0 s".
function took(seconds) {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : formats.duration(seconds);
}

function attemptsTable(item) {
  return table(`Each attempt to deliver ${item.alert_key} (${item.event}) on ${item.channel}`,
    ['Attempt', 'Started', 'Took', 'Outcome', 'Error'],
    item.attempt_history.map((attempt) => h('tr', { dataset: { attempt: attempt.attempt, outcome: attempt.outcome } },
      h('th', { scope: 'row' }, formats.count(attempt.attempt)),
      h('td', {}, formats.when(attempt.started_at)),
      h('td', { class: 'number' }, took(attempt.duration_s)),
      h('td', {}, h('span', { class: 'badge result', dataset: { result: attempt.outcome } }, attempt.outcome)),
      h('td', {}, attempt.error ?? formats.DASH))));
}

// A delivery's row, and below it a row listing each attempt, shown by the Attempts button (a
// disclosure: its name stays, aria-expanded says whether the list is open).
function deliveryRows(item) {
  const tried = item.attempt_history.length;
  const row = (attempts) => h('tr', { dataset: { result: item.result, notificationId: item.id } },
    h('td', {}, formats.when(item.created_at)),
    h('th', { scope: 'row' }, item.alert_key),
    h('td', {}, item.event),
    h('td', {}, item.channel, item.masked_url ? h('br') : null, item.masked_url ? h('code', {}, item.masked_url) : null),
    h('td', { class: 'number' }, attempts),
    h('td', {}, h('span', { class: 'badge result', dataset: { result: item.result } }, item.result)),
    h('td', {}, formats.when(item.last_attempt_at)),
    h('td', {}, formats.when(item.sent_at)),
    h('td', {}, item.error ?? formats.DASH));
  if (!tried) return row(formats.count(item.attempts));
  const list = h('tr', { id: `notification-${item.id}-attempts`, class: 'attempts', hidden: true },
    h('td', { colspan: DELIVERY_HEADERS.length }, attemptsTable(item)));
  const toggle = h('button', {
    type: 'button',
    class: 'secondary small',
    'aria-expanded': 'false',
    'aria-controls': list.id,
    onclick: () => {
      list.hidden = !list.hidden;
      toggle.setAttribute('aria-expanded', String(!list.hidden));
    },
  }, formats.counted(tried, 'attempt'));
  return [row(toggle), list];
}

function field(id, text, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, text), control);
}

export function mount(container, ctx) {
  const { board } = ctx;
  const controller = new AbortController();
  const options = { signal: controller.signal };
  const canSilence = maySilence(ctx.principal);
  const firing = h('div', {});
  const schedules = h('div', {});
  const recent = h('div', {});
  const silences = h('div', {});
  const notifications = h('div', {});
  const problem = h('p', { class: 'form-error', role: 'alert' });

  const rule = h('input', { id: 'silence-rule', list: 'silence-rules', autocomplete: 'off' });
  const jobName = h('input', { id: 'silence-job', autocomplete: 'off' });
  const key = h('input', { id: 'silence-key', autocomplete: 'off' });
  const amount = h('input', { id: 'silence-duration', type: 'number', min: '1', step: '1', value: '1', required: true });
  const unit = h('select', { id: 'silence-unit', 'aria-label': 'Unit' }, Object.entries(UNITS).map(([seconds, text]) => h('option', { value: seconds }, text)));
  unit.value = '3600';
  const reason = h('input', { id: 'silence-reason', autocomplete: 'off', maxlength: 2000 });
  const formProblem = h('p', { class: 'form-error', role: 'alert' });
  const silenceForm = h('form', { class: 'filters', 'aria-labelledby': 'new-silence-heading' },
    h('h3', { id: 'new-silence-heading', class: 'full' }, 'New silence'),
    h('p', { class: 'full meta' }, 'Mutes the notifications of alerts matching every matcher given (at least one).'),
    field('silence-rule', 'Rule', rule),
    h('datalist', { id: 'silence-rules' }, RULES.map((name) => h('option', { value: name }))),
    field('silence-job', 'Job name', jobName),
    field('silence-key', 'Alert key', key),
    h('div', { class: 'field' }, h('label', { for: 'silence-duration' }, 'For'), h('div', { class: 'inline' }, amount, unit)),
    field('silence-reason', 'Reason', reason),
    h('div', { class: 'field end' }, h('button', { type: 'submit', class: 'primary' }, 'Create silence')),
    formProblem);
  const resultFilter = h('select', { id: 'notification-result' }, h('option', { value: '' }, 'Any result'), RESULTS.map((result) => h('option', { value: result }, result)));

  container.append(
    h('h1', { tabindex: '-1' }, 'Alerts'),
    problem,
    h('section', { 'aria-labelledby': 'firing-now' }, h('h2', { id: 'firing-now' }, 'Firing now'), firing),
    h('section', { 'aria-labelledby': 'schedules-heading' }, h('h2', { id: 'schedules-heading' }, 'Schedules'), schedules),
    h('section', { 'aria-labelledby': 'recent-alerts' }, h('h2', { id: 'recent-alerts' }, 'Recent alerts'), recent),
    h('section', { 'aria-labelledby': 'silences-heading' }, h('h2', { id: 'silences-heading' }, 'Silences'),
      canSilence ? silenceForm : null, silences),
    h('section', { 'aria-labelledby': 'deliveries-heading' }, h('h2', { id: 'deliveries-heading' }, 'Notification deliveries'),
      h('div', { class: 'field' }, h('label', { for: 'notification-result' }, 'Result'), resultFilter), notifications));

  function report(failure) {
    if (failure.name === 'AbortError' || failure instanceof AuthRequired) return;
    setText(problem, failure.message);
  }

  function prefill(alert) {
    rule.value = alert.rule;
    jobName.value = alert.job_name ?? '';
    key.value = alert.job_name ? '' : alert.key;
    rule.focus();
  }

  function renderFiring() {
    const alerts = board.firingAlerts();
    fill(firing, alerts.length
      ? h('ul', { class: 'alert-list' }, alerts.map((alert) => h('li', { dataset: { key: alert.key } },
        severity(alert), ' ',
        alert.job_id ? h('a', { href: routeHref('job', [alert.job_id]) }, alert.summary) : alert.summary,
        h('span', { class: 'when' }, ` since ${formats.when(alert.fired_at)}${alert.silenced ? ' · silenced' : ''}`),
        canSilence ? h('button', { type: 'button', class: 'secondary small', onclick: () => prefill(alert) }, 'Silence…') : null)))
      : h('p', { class: 'empty' }, 'Nothing fires.'));
  }

  async function loadRecent() {
    const page = await get('/api/alerts', { limit: 50 }, options);
    board.setAlerts(page.items.filter((alert) => alert.state === 'firing'));
    fill(recent, table(`${page.items.length} most recent of ${formats.count(page.total)}`,
      ['Severity', 'Alert', 'State', 'Fired', 'Resolved', 'Rule'],
      page.items.map((alert) => h('tr', {},
        h('td', {}, severity(alert)),
        h('th', { scope: 'row' }, alert.job_id ? h('a', { href: routeHref('job', [alert.job_id]) }, alert.summary) : alert.summary),
        h('td', {}, `${alert.state}${alert.silenced ? ' (silenced)' : ''}`),
        h('td', {}, formats.when(alert.fired_at)),
        h('td', {}, alert.resolved_at ? `${formats.when(alert.resolved_at)}${alert.resolution ? `: ${alert.resolution}` : ''}` : formats.DASH),
        h('td', {}, alert.rule)))));
  }

  async function loadSchedules() {
    const found = await get('/api/monitor/schedules', {}, options);
    fill(schedules, found.schedules.length
      ? table('Scheduled job names and types: when the run each waits for is due, and the last run',
        ['Jobs', 'Runs', 'Grace', 'Run due', 'Last run', 'State'], found.schedules.map(scheduleRow))
      : h('p', { class: 'empty' }, 'No job name or type has a schedule: give one in the settings ([[schedules]]) or with jobpulse run --schedule.'));
  }

  async function loadSilences() {
    const items = await get('/api/alerts/silences', { include_expired: true }, options);
    const matcher = (silence) => [['rule', silence.rule], ['job', silence.job_name], ['key', silence.key]]
      .filter(([, value]) => value).map(([name, value]) => `${name} = ${value}`).join(', ');
    fill(silences, items.length
      ? table('Silences, newest first', ['Matches', 'Until', 'Created', 'By', 'Reason', ''],
        items.map((silence) => h('tr', { dataset: { silenceId: silence.id, active: silence.active } },
          h('th', { scope: 'row' }, matcher(silence)),
          h('td', {}, `${formats.when(silence.until)}${silence.active ? '' : ' (expired)'}`),
          h('td', {}, formats.when(silence.created_at)),
          h('td', {}, silence.created_by ?? formats.DASH),
          h('td', {}, silence.reason ?? formats.DASH),
          h('td', {}, silence.active && canSilence
            ? h('button', { type: 'button', class: 'secondary small', 'aria-label': `Expire the silence of ${matcher(silence)}`, onclick: () => expire(silence.id) }, 'Expire')
            : null))))
      : h('p', { class: 'empty' }, 'No silences.'));
  }

  async function loadNotifications() {
    const page = await get('/api/notifications', { limit: 100, result: resultFilter.value }, options);
    fill(notifications, page.items.length
      ? table('Deliveries, newest first: the outcome, the last error, and each attempt (open its list with the Attempts button)',
        DELIVERY_HEADERS, page.items.map(deliveryRows))
      : h('p', { class: 'empty' }, 'No notifications were sent.'));
  }

  async function expire(id) {
    try {
      await del(`/api/alerts/silences/${id}`);
      await loadSilences();
    } catch (failure) {
      report(failure);
    }
  }

  silenceForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    setText(formProblem, '');
    const body = {
      duration_s: Number(amount.value) * Number(unit.value),
      created_by: ctx.principal.name ?? undefined,
      reason: reason.value.trim() || undefined,
    };
    for (const [name, input] of [['rule', rule], ['job_name', jobName], ['key', key]]) {
      if (input.value.trim()) body[name] = input.value.trim();
    }
    try {
      await post('/api/alerts/silences', body);
      silenceForm.reset();
      unit.value = '3600';
      await loadSilences();
    } catch (failure) {
      if (failure instanceof ApiError) setText(formProblem, `The silence was refused: ${failure.message}`);
      else report(failure);
    }
  });
  resultFilter.addEventListener('change', () => loadNotifications().catch(report));

  function onChange(event) {
    if (event.detail.alerts.length === 0) return;
    renderFiring();
    loadRecent().catch(report);
    loadSchedules().catch(report);
  }
  board.addEventListener('change', onChange);
  const refresh = window.setInterval(() => loadSchedules().catch(report), SCHEDULES_REFRESH_MS);
  renderFiring();
  Promise.all([loadRecent(), loadSchedules(), loadSilences(), loadNotifications()]).then(renderFiring, report);
  return {
    title: 'Alerts',
    unmount() {
      controller.abort();
      window.clearInterval(refresh);
      board.removeEventListener('change', onChange);
    },
  };
}
