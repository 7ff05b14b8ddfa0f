// Job history: the search of GET /api/jobs with its filters in the URL, a page at a time.

import { AuthRequired, get } from '../api.js';
import { fill, h } from '../dom.js';
import * as formats from '../format.js';
import { STATUSES } from '../jobs.js';
import { statusBadge } from '../jobcard.js';
import { navigate, routeHref } from '../router.js';

const TEXT_FILTERS = [
  ['job_type', 'Job type'], ['name', 'Name contains'], ['owner', 'Owner'], ['q', 'Text (name or error)'],
];
const TIME_FILTERS = [['started_after', 'Started after'], ['started_before', 'Started before']];
const DURATION_FILTERS = [['min_duration_s', 'Shortest (s)'], ['max_duration_s', 'Longest (s)']];
const SORTS = [
  ['-started_at', 'Newest first'], ['started_at', 'Oldest first'], ['-duration', 'Longest first'],
  ['duration', 'Shortest first'], ['-ended_at', 'Ended last first'], ['name', 'Name A–Z'], ['-name', 'Name Z–A'],
];
const PAGE_SIZES = ['25', '50', '100', '200'];

// <input type="datetime-local"> speaks local time without a zone; the URL and the API speak UTC.
function toLocalInput(iso) {
  const moment = iso ? new Date(iso) : null;
  if (!moment || Number.isNaN(moment.getTime())) return '';
  const local = new Date(moment.getTime() - moment.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

function fromLocalInput(value) {
  const moment = value ? new Date(value) : null;
  return moment && !Number.isNaN(moment.getTime()) ? moment.toISOString() : '';
}

function field(id, text, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, text), control);
}

export function mount(container, ctx, route) {
  const params = route.params;
  const controller = new AbortController();
  const inputs = {};
  const statusBoxes = STATUSES.map((status) => {
    const box = h('input', { type: 'checkbox', id: `history-status-${status}`, value: status });
    box.checked = params.getAll('status').includes(status);
    return box;
  });
  const textFields = TEXT_FILTERS.map(([name, text]) => {
    inputs[name] = h('input', { id: `history-${name}`, type: 'text', value: params.get(name) ?? '', autocomplete: 'off' });
    return field(inputs[name].id, text, inputs[name]);
  });
  const timeFields = TIME_FILTERS.map(([name, text]) => {
    inputs[name] = h('input', { id: `history-${name}`, type: 'datetime-local', value: toLocalInput(params.get(name)) });
    return field(inputs[name].id, text, inputs[name]);
  });
  const durationFields = DURATION_FILTERS.map(([name, text]) => {
    inputs[name] = h('input', { id: `history-${name}`, type: 'number', min: '0', step: 'any', value: params.get(name) ?? '' });
    return field(inputs[name].id, text, inputs[name]);
  });
  const sort = h('select', { id: 'history-sort' }, SORTS.map(([value, text]) => h('option', { value }, text)));
  sort.value = params.get('sort') ?? '-started_at';
  const limit = h('select', { id: 'history-limit' }, PAGE_SIZES.map((size) => h('option', { value: size }, size)));
  limit.value = PAGE_SIZES.includes(params.get('limit')) ? params.get('limit') : '50';
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search job history' },
    h('fieldset', {}, h('legend', {}, 'Status'), h('div', { class: 'checks' },
      statusBoxes.map((box) => h('label', { class: 'check', for: box.id }, box, formats.label(box.value))))),
    textFields, timeFields, durationFields,
    field('history-sort', 'Order', sort), field('history-limit', 'Per page', limit),
    h('div', { class: 'field end' }, h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('a', { class: 'button-link', href: routeHref('history') }, 'Reset')));
  const results = h('div', { class: 'results', 'aria-live': 'polite' }, h('p', {}, 'Searching…'));

  container.append(h('h1', { tabindex: '-1' }, 'History'), form, results);

  function filters() {
    const chosen = {
      status: statusBoxes.filter((box) => box.checked).map((box) => box.value),
      sort: sort.value === '-started_at' ? '' : sort.value,
      limit: limit.value === '50' ? '' : limit.value,
    };
    for (const [name] of [...TEXT_FILTERS, ...DURATION_FILTERS]) chosen[name] = inputs[name].value.trim();
    for (const [name] of TIME_FILTERS) chosen[name] = fromLocalInput(inputs[name].value);
    return chosen;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate('history', [], filters());
  });

  async function search() {
    const query = Object.fromEntries([...new Set(params.keys())].map((key) => [key, params.getAll(key)]));
    try {
      const page = await get('/api/jobs', query, { signal: controller.signal });
      const first = page.items.length ? 1 : 0;
      const matching = page.total_exact
        ? formats.counted(page.total, 'matching job') : `${formats.count(page.total)} or more matching jobs`;
      const rows = page.items.map((job) => h('tr', { dataset: { jobId: job.id } },
        h('th', { scope: 'row' }, h('a', { href: routeHref('job', [job.id]) }, job.name ?? job.id)),
        h('td', {}, formats.label(job.job_type)),
        h('td', {}, statusBadge(job.status)),
        h('td', {}, formats.when(job.started_at)),
        h('td', {}, formats.duration(job.execution_time_s)),
        h('td', { class: 'number' }, formats.count(job.processed)),
        h('td', { class: 'number' }, formats.count(job.failed)),
        h('td', {}, job.owner ?? formats.DASH)));
      const caption = page.items.length
        ? `${page.items.length} of ${matching}${params.get('cursor') ? ' (a later page)' : ''}` : 'No job matches.';
      const next = page.next_cursor
        ? h('a', { class: 'button-link', href: routeHref('history', [], { ...query, cursor: page.next_cursor }) }, 'Next page') : null;
      const firstPage = params.get('cursor') ? h('a', { class: 'button-link', href: routeHref('history', [], { ...query, cursor: '' }) }, 'First page') : null;
      fill(results,
        h('div', { class: 'table-wrap' }, h('table', {},
          h('caption', {}, caption),
          h('thead', {}, h('tr', {}, ['Job', 'Type', 'Status', 'Started', 'Duration', 'Processed', 'Failed', 'Owner']
            .map((header) => h('th', { scope: 'col' }, header)))),
          h('tbody', {}, rows))),
        h('nav', { class: 'pager', 'aria-label': 'Pages' }, firstPage, next),
        first ? null : h('p', { class: 'empty' }, 'Widen the filters to see more.'));
    } catch (failure) {
      if (failure.name === 'AbortError' || failure instanceof AuthRequired) return;
      fill(results, h('p', { class: 'form-error', role: 'alert' }, `The search failed: ${failure.message}`));
    }
  }

  search();
  return { title: 'History', unmount: () => controller.abort() };
}
