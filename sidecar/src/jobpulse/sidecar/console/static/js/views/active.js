// Active jobs, live: a card per job (and per job that ended while the page was open), firing alerts,
// and filters by status, job type and free text that live in the URL.

import { h, setAttr, setText } from '../dom.js';
import { isEnded, STATUSES } from '../jobs.js';
import { JobCard } from '../jobcard.js';
import { counted, label, when } from '../format.js';
import { keepParams, routeHref } from '../router.js';

const TICK_MS = 1000;

function filtersOf(params) {
  return { statuses: params.getAll('status'), type: params.get('type') ?? '', text: (params.get('q') ?? '').trim() };
}

/** Whether `job` passes the filters: any chosen status, the chosen type, and the text anywhere in it. */
function matches(job, filters) {
  if (filters.statuses.length && !filters.statuses.includes(job.status)) return false;
  if (filters.type && job.job_type !== filters.type) return false;
  if (!filters.text) return true;
  const haystack = [job.id, job.name, job.job_type, job.owner, job.host, job.step?.name, job.error?.type, job.error?.message]
    .filter(Boolean).join(' ').toLowerCase();
  return filters.text.toLowerCase().split(/\s+/).every((word) => haystack.includes(word));
}

function byStart(a, b) {
  return (Date.parse(b.started_at ?? 0) || 0) - (Date.parse(a.started_at ?? 0) || 0);
}

export function mount(container, ctx, route) {
  const { board } = ctx;
  const filters = filtersOf(route.params);
  const cards = new Map();
  const pending = new Set();
  let frame = 0;

  const statusBoxes = STATUSES.map((status) => {
    const box = h('input', { type: 'checkbox', name: 'status', value: status, id: `filter-status-${status}` });
    box.checked = filters.statuses.includes(status);
    return h('label', { class: 'check', for: box.id }, box, label(status));
  });
  const typeSelect = h('select', { id: 'filter-type', name: 'type' }, h('option', { value: '' }, 'All types'));
  const search = h('input', {
    id: 'filter-text', name: 'q', type: 'search', value: filters.text, autocomplete: 'off',
    placeholder: 'name, id, owner, step, error…',
  });
  const clear = h('button', { type: 'button', class: 'secondary' }, 'Clear filters');
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs' },
    h('fieldset', {}, h('legend', {}, 'Status'), h('div', { class: 'checks' }, statusBoxes)),
    h('div', { class: 'field' }, h('label', { for: 'filter-type' }, 'Job type'), typeSelect),
    h('div', { class: 'field grow' }, h('label', { for: 'filter-text' }, 'Search'), search),
    h('div', { class: 'field end' }, clear));
  const shown = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  const activeList = h('ul', { class: 'cards', 'aria-labelledby': 'active-heading' });
  const endedList = h('ul', { class: 'cards', 'aria-labelledby': 'ended-heading' });
  const empty = h('p', { class: 'empty' }, 'No active jobs. A job appears here as soon as it starts sending.');
  const endedSection = h('section', { hidden: true }, h('h2', { id: 'ended-heading' }, 'Ended while you watched'), endedList);
  const alertList = h('ul', { class: 'alert-strip' });
  const alertSection = h('section', { class: 'firing', hidden: true, 'aria-labelledby': 'firing-heading' },
    h('h2', { id: 'firing-heading' }, 'Firing alerts'), alertList,
    h('p', {}, h('a', { href: routeHref('alerts') }, 'All alerts and silences')));

  container.append(
    h('h1', { tabindex: '-1' }, 'Active jobs'),
    alertSection,
    form,
    shown,
    h('section', {}, h('h2', { id: 'active-heading' }, 'Running now'), activeList, empty),
    endedSection,
  );

  function readFilters() {
    filters.statuses = statusBoxes.map((item) => item.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
    filters.type = typeSelect.value;
    filters.text = search.value.trim();
    keepParams('active', [], { status: filters.statuses, type: filters.type, q: filters.text });
    render(true);
  }

  function syncTypes() {
    const types = new Set(board.jobTypes());
    if (filters.type) types.add(filters.type);
    const present = [...typeSelect.options].slice(1).map((option) => option.value);
    const wanted = [...types].sort();
    if (present.join('\n') === wanted.join('\n')) return;
    typeSelect.replaceChildren(h('option', { value: '' }, 'All types'), ...wanted.map((type) => h('option', { value: type }, label(type))));
    typeSelect.value = filters.type;
  }

  function renderAlerts() {
    const firing = board.firingAlerts().slice(0, 5);
    setAttr(alertSection, 'hidden', firing.length === 0);
    alertList.replaceChildren(...firing.map((alert) => h('li', { dataset: { severity: alert.severity } },
      h('span', { class: 'badge severity', dataset: { severity: alert.severity } }, alert.severity),
      ' ',
      alert.job_id ? h('a', { href: routeHref('job', [alert.job_id]) }, alert.summary) : alert.summary,
      h('span', { class: 'when' }, ` since ${when(alert.fired_at)}`))));
  }

  // Cards are built once and updated in place; the lists are reordered only when their membership changes.
  function render(reorder) {
    const now = Date.now();
    for (const id of reorder ? board.jobs.keys() : pending) {
      const job = board.jobs.get(id);
      if (!job) continue;
      let card = cards.get(id);
      if (!card) {
        card = new JobCard(ctx, job);
        cards.set(id, card);
        reorder = true;
      }
      if (card.element.parentElement !== (isEnded(job) ? endedList : activeList)) reorder = true;
      card.update(job, now);
    }
    for (const [id, card] of cards) {
      if (!board.jobs.has(id)) {
        card.element.remove();
        cards.delete(id);
      }
    }
    pending.clear();
    if (reorder) {
      const jobs = [...board.jobs.values()];
      activeList.replaceChildren(...jobs.filter((job) => !isEnded(job)).sort(byStart).map((job) => cards.get(job.id).element));
      endedList.replaceChildren(...jobs.filter(isEnded).sort((a, b) => b.endedAt - a.endedAt).map((job) => cards.get(job.id).element));
    }
    let visible = 0;
    for (const [id, card] of cards) {
      const show = matches(board.jobs.get(id), filters);
      setAttr(card.element, 'hidden', !show);
      if (show) visible += 1;
    }
    const activeCount = [...board.jobs.values()].filter((job) => !isEnded(job)).length;
    setAttr(empty, 'hidden', activeCount > 0);
    setAttr(endedSection, 'hidden', endedList.children.length === 0);
    setText(shown, `${visible} of ${counted(cards.size, 'job')} shown`);
    syncTypes();
  }

  function onChange(event) {
    for (const id of event.detail.changed) pending.add(id);
    if (event.detail.alerts.length || event.detail.changed.size === 0) renderAlerts();
    if (!frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        render(false);
      });
    }
  }

  for (const box of statusBoxes) box.addEventListener('change', readFilters);
  typeSelect.addEventListener('change', readFilters);
  search.addEventListener('input', readFilters);
  form.addEventListener('submit', (event) => event.preventDefault());
  clear.addEventListener('click', () => {
    for (const item of statusBoxes) item.querySelector('input').checked = false;
    typeSelect.value = '';
    search.value = '';
    readFilters();
  });
  board.addEventListener('change', onChange);
  // Durations tick and silent jobs turn stale between messages.
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const [id, card] of cards) {
      const job = board.jobs.get(id);
      if (job) card.update(job, now);
    }
  }, TICK_MS);

  syncTypes();
  typeSelect.value = filters.type;
  render(true);
  renderAlerts();
  return {
    title: 'Active jobs',
    unmount() {
      board.removeEventListener('change', onChange);
      clearInterval(ticker);
      cancelAnimationFrame(frame);
    },
  };
}
