// A job at a glance: status, health, progress, figures, error and controls. The cards of the active
// view and the head of the job view are both made of these parts.

import { ControlPanel } from './controls.js';
import { h, setAttr, setText } from './dom.js';
import * as formats from './format.js';
import { healthGrade } from './health.js';
import { routeHref } from './router.js';

export function statusBadge(status) {
  const badge = h('span', { class: 'badge status', dataset: { status } }, formats.label(status));
  return badge;
}

function updateStatusBadge(badge, status) {
  badge.dataset.status = status;
  setText(badge, formats.label(status));
}

function figure(name, label) {
  const value = h('dd', { dataset: { field: name } });
  return { row: h('div', {}, h('dt', {}, label), value), value };
}

/** Badges, progress bar and figures of one job; `update` writes a job's current state into them. */
export class JobFigures {
  constructor() {
    this.status = statusBadge('pending');
    this.grade = h('span', { class: 'badge grade', hidden: true, dataset: { field: 'grade' } });
    this.stale = h('span', { class: 'badge stale', hidden: true, dataset: { field: 'stale' } });
    this.badges = h('p', { class: 'badges' }, this.status, this.grade, this.stale);
    this.fill = h('div', { class: 'fill' });
    this.bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' }, this.fill);
    this.percent = h('span', { class: 'percent', dataset: { field: 'percent' } });
    const rows = {
      processed: figure('processed', 'Processed'),
      failed: figure('failed', 'Failed'),
      rate: figure('rate', 'Rate'),
      eta: figure('eta', 'ETA'),
      step: figure('step', 'Step'),
      duration: figure('duration', 'Duration'),
    };
    this.values = Object.fromEntries(Object.entries(rows).map(([key, item]) => [key, item.value]));
    this.figures = h('dl', { class: 'figures' }, Object.values(rows).map((item) => item.row));
    this.progress = h('div', { class: 'progress-row' }, this.bar, this.percent);
  }

  update(job, board, now) {
    updateStatusBadge(this.status, job.status);
    const health = healthGrade(job);
    setAttr(this.grade, 'hidden', !health);
    if (health) {
      this.grade.dataset.grade = health.grade;
      setText(this.grade, `health: ${health.grade}`);
      setAttr(this.grade, 'title', health.reasons.join('; '));
    }
    const stale = board.isStale(job, now);
    setAttr(this.stale, 'hidden', !stale);
    if (stale) setText(this.stale, `stale: no news for ${formats.duration((now - job.newsAt) / 1000)}`);
    const notLive = stale || !board.live;
    this.bar.dataset.status = job.status;
    setAttr(this.bar, 'data-live', notLive ? 'false' : 'true');
    const percent = job.progress_percent;
    if (percent === null || percent === undefined) {
      setAttr(this.bar, 'aria-valuenow', null);
      setAttr(this.bar, 'aria-valuetext', 'total unknown');
      this.fill.style.transform = 'scaleX(0)';
      setText(this.percent, formats.DASH);
    } else {
      setAttr(this.bar, 'aria-valuenow', percent.toFixed(1));
      setAttr(this.bar, 'aria-valuetext', null);
      this.fill.style.transform = `scaleX(${Math.min(percent, 100) / 100})`;
      setText(this.percent, formats.percent(percent));
    }
    setAttr(this.bar, 'aria-label', `Progress of ${job.name ?? job.id}${notLive ? ' (last known)' : ''}`);
    const total = job.total !== null && job.total !== undefined ? ` of ${formats.count(job.total)}` : '';
    setText(this.values.processed, `${formats.count(job.processed)}${total}`);
    setText(this.values.failed, formats.count(job.failed));
    setText(this.values.rate, formats.rate(job.rate_per_s));
    setText(this.values.eta, formats.duration(job.eta_s));
    setText(this.values.step, formats.step(job.step));
    setText(this.values.duration, formats.duration(board.elapsed(job, now)));
  }
}

/** The error of a failed job and what to do about it (the suggested actions come with its alert). */
export class JobError {
  constructor() {
    this.headline = h('p', { class: 'headline', dataset: { field: 'error' } });
    this.actions = h('ul', { class: 'actions-list', dataset: { field: 'suggested-actions' } });
    this.actionsBlock = h('div', { hidden: true }, h('p', { class: 'hint-title' }, 'Suggested actions'), this.actions);
    this.element = h('div', { class: 'error-box', hidden: true }, this.headline, this.actionsBlock);
  }

  update(job, alert) {
    const error = job.error;
    setAttr(this.element, 'hidden', !error);
    if (!error) return;
    const where = error.step ? ` (in step ${error.step})` : '';
    setText(this.headline, `${[error.type, error.message].filter(Boolean).join(': ') || 'failed without details'}${where}`);
    const actions = alert?.details?.suggested_actions ?? [];
    setAttr(this.actionsBlock, 'hidden', actions.length === 0);
    if (this.actions.dataset.shown !== actions.join('\n')) {
      this.actions.dataset.shown = actions.join('\n');
      this.actions.replaceChildren(...actions.map((action) => h('li', {}, action)));
    }
  }
}

/** A job's card on the active view. */
export class JobCard {
  constructor(ctx, job) {
    this.ctx = ctx;
    this.figures = new JobFigures();
    this.error = new JobError();
    this.controls = new ControlPanel(ctx);
    const titleId = `job-title-${job.id}`;
    this.link = h('a', { href: routeHref('job', [job.id]) });
    this.meta = h('p', { class: 'meta' });
    this.element = h('li', { class: 'card', dataset: { jobId: job.id } },
      h('article', { 'aria-labelledby': titleId },
        h('h3', { id: titleId }, this.link),
        this.figures.badges,
        this.meta,
        this.figures.progress,
        this.figures.figures,
        this.error.element,
        this.controls.element));
  }

  update(job, now) {
    const board = this.ctx.board;
    this.element.dataset.status = job.status;
    setText(this.link, job.name ?? job.id);
    setText(this.meta, [formats.label(job.job_type), job.owner, job.host].filter((part) => part && part !== formats.DASH).join(' · '));
    this.figures.update(job, board, now);
    this.error.update(job, board.failureAlert(job.id));
    this.controls.update(job);
  }
}
