// A modal confirmation built on <dialog>: focus moves into it and is trapped there, Escape dismisses
// it, and focus returns to where it was.

import { h, uid } from './dom.js';

/**
 * Ask to confirm; resolves `{confirmed, reason}`. With `askReason`, the dialog has an optional reason
 * field. `danger` styles the confirming button as destructive.
 */
export function confirmAction({ title, body, confirmLabel, dismissLabel, askReason = false, danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dialog-title');
    const bodyId = uid('dialog-body');
    const reasonId = uid('dialog-reason');
    const reason = askReason ? h('input', { id: reasonId, name: 'reason', type: 'text', maxlength: 1000, autocomplete: 'off' }) : null;
    const dismiss = h('button', { type: 'button', class: 'secondary' }, dismissLabel);
    const confirm = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, confirmLabel);
    const form = h('form', { method: 'dialog' },
      h('h2', { id: titleId }, title),
      h('p', { id: bodyId }, body),
      askReason ? [h('label', { for: reasonId }, 'Reason (optional, kept in the job\'s command history)'), reason] : null,
      h('div', { class: 'actions' }, dismiss, confirm));
    const dialog = h('dialog', { 'aria-labelledby': titleId, 'aria-describedby': bodyId }, form);
    let confirmed = false;
    form.addEventListener('submit', () => {
      confirmed = true;
    });
    dismiss.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve({ confirmed, reason: reason?.value.trim() || null });
    });
    document.body.append(dialog);
    dialog.showModal();
    // The safe choice has focus: Enter on a stray keypress does not cancel a job.
    dismiss.focus();
  });
}
