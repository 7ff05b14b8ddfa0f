// Pause, Resume and Cancel for one job: the buttons the job's status and the user's role allow, and
// the request's fate — pending until the job acknowledges it, then acknowledged (or superseded, or
// expired when the job ended first).

import { ApiError, AuthRequired, post } from './api.js';
import { mayControl } from './auth.js';
import { confirmAction } from './dialog.js';
import { h, setAttr, setText } from './dom.js';
import { when } from './format.js';

const LABELS = { pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };

/** The commands the sidecar would accept for `job` now (docs/control.md), ignoring permissions. */
export function possibleActions(job) {
  const pending = job.pending_command?.action ?? job.localCommand?.action ?? null;
  if (pending === 'cancel') return [];
  const actions = [];
  if (job.status === 'running' && pending !== 'pause') actions.push('pause');
  if ((job.status === 'paused' || pending === 'pause') && pending !== 'resume') actions.push('resume');
  if (['pending', 'running', 'paused'].includes(job.status)) actions.push('cancel');
  return actions;
}

/** What to say about the job's latest command: `{state, text}`; state 'none' says nothing. */
export function commandState(job) {
  const pending = job.pending_command;
  if (pending) {
    const by = pending.requested_by ? ` by ${pending.requested_by}` : '';
    const late = pending.overdue ? `; no answer for ${Math.round(pending.waiting_s)} s — the job may be stuck or not listening` : '';
    return {
      state: 'pending',
      text: `${LABELS[pending.action]} requested${by} at ${when(pending.requested_at)}: pending until the job acknowledges${late}`,
    };
  }
  const local = job.localCommand;
  if (local) return { state: 'pending', text: `${LABELS[local.action]} requested at ${when(local.requested_at)}: pending until the job acknowledges` };
  const last = job.lastCommand;
  if (!last) return { state: 'none', text: '' };
  const action = LABELS[last.action];
  switch (last.state) {
    case 'acknowledged':
      return { state: 'acknowledged', text: `${action} acknowledged by the job at ${when(last.resolved_at)}` };
    case 'superseded':
      return { state: 'superseded', text: `${action} superseded by a later request before the job got to it` };
    case 'expired':
      return { state: 'expired', text: `${action} expired: the job ended first` };
    case 'pending':
      return { state: 'pending', text: `${action} requested: pending until the job acknowledges` };
    default:
      return { state: 'resolving', text: `${action} answered; checking the outcome` };
  }
}

/**
 * The buttons and the command line of one job. `reasonInput` (optional) supplies a reason for pause
 * and resume; cancel asks for one in its confirmation.
 */
export class ControlPanel {
  constructor(ctx, { reasonInput = null } = {}) {
    this.ctx = ctx;
    this.reasonInput = reasonInput;
    this.job = null;
    this.busy = false;
    this.buttons = {};
    for (const action of Object.keys(LABELS)) {
      const button = h('button', { type: 'button', class: action === 'cancel' ? 'danger' : 'secondary', hidden: true }, LABELS[action]);
      button.dataset.action = action;
      button.addEventListener('click', () => this.#request(action));
      this.buttons[action] = button;
    }
    this.state = h('p', { class: 'control-state', tabindex: '-1', dataset: { state: 'none' } });
    this.problem = h('p', { class: 'form-error', role: 'alert' });
    this.element = h('div', { class: 'controls' },
      h('div', { class: 'buttons' }, Object.values(this.buttons)), this.state, this.problem);
  }

  update(job) {
    this.job = job;
    const allowed = mayControl(this.ctx.principal, job) ? possibleActions(job) : [];
    const focused = Object.values(this.buttons).find((button) => button === document.activeElement);
    for (const [action, button] of Object.entries(this.buttons)) {
      setAttr(button, 'hidden', !allowed.includes(action));
      setAttr(button, 'aria-label', `${LABELS[action]} ${job.name ?? job.id}`);
      button.disabled = this.busy;
    }
    const { state, text } = commandState(job);
    this.state.dataset.state = state;
    setText(this.state, text);
    setAttr(this.state, 'hidden', state === 'none');
    // A button that vanished under the keyboard focus hands it to what replaced it.
    if (focused?.hidden) {
      (Object.values(this.buttons).find((button) => !button.hidden) ?? this.state).focus();
    }
  }

  async #request(action) {
    const job = this.job;
    if (!job || this.busy) return;
    let reason = this.reasonInput?.value.trim() || null;
    if (action === 'cancel') {
      const answer = await confirmAction({
        title: `Cancel ${job.name ?? job.id}?`,
        body: 'The job stops at its next checkpoint and ends as cancelled. This cannot be undone.',
        confirmLabel: 'Cancel the job',
        dismissLabel: 'Keep it running',
        askReason: true,
        danger: true,
      });
      if (!answer.confirmed) return;
      reason = answer.reason ?? reason;
    }
    this.busy = true;
    this.problem.textContent = '';
    this.update(job);
    try {
      const command = await post(`/api/jobs/${encodeURIComponent(job.id)}/${action}`, reason ? { reason } : undefined);
      if (this.reasonInput) this.reasonInput.value = '';
      this.ctx.board.notePending(job.id, command);
    } catch (error) {
      if (!(error instanceof AuthRequired)) {
        this.problem.textContent = error instanceof ApiError
          ? `${LABELS[action]} refused: ${error.message}` : `${LABELS[action]} failed: ${error.message}`;
      }
    } finally {
      this.busy = false;
      this.update(this.ctx.board.jobs.get(job.id) ?? job);
    }
  }
}
