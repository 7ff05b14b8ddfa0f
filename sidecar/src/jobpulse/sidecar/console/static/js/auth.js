// Who the user is, what they may do, and the sign-in form. With authentication off (the loopback
// demo) whoami says so (`auth_enabled: false`, role admin): no sign-in, and every button, as the
// sidecar then allows everything.

import { AuthRequired, clearToken, get, post, setToken } from './api.js';
import { h } from './dom.js';

/** Whom the console acts as until whoami has answered (and after a sign-out, until it answers again). */
export const AUTH_OFF = Object.freeze({ name: null, role: 'admin', authEnabled: false });

const RANKS = { viewer: 0, operator: 1, admin: 2 };

/** `{name, role, authEnabled}` of the caller, as `GET /api/auth/whoami` tells it. */
export async function whoami(options) {
  const me = await get('/api/auth/whoami', undefined, options);
  return { name: me.name ?? null, role: me.role ?? 'viewer', authEnabled: me.auth_enabled !== false };
}

/** A single-use ticket for opening the live feed (with authentication off the feed ignores it). */
export async function wsTicket() {
  const answer = await post('/api/auth/ws-ticket');
  return answer.ticket;
}

export function atLeast(principal, role) {
  return (RANKS[principal.role] ?? -1) >= RANKS[role];
}

/** Operators control any job; anyone controls the jobs they own (the sidecar's rule, docs/control.md). */
export function mayControl(principal, job) {
  return atLeast(principal, 'operator') || (principal.name !== null && principal.name === job.owner);
}

export function maySilence(principal) {
  return atLeast(principal, 'operator');
}

/** Ask for a token in a modal form until the sidecar accepts one; resolves with the principal. */
export function signIn(reason) {
  return new Promise((resolve) => {
    const input = h('input', {
      id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false',
    });
    const problem = h('p', { class: 'form-error', role: 'alert' });
    const form = h('form', { class: 'signin', method: 'dialog' },
      h('h2', { id: 'signin-title' }, 'Sign in'),
      h('p', {}, reason),
      h('label', { for: 'token' }, 'Access token'),
      input,
      problem,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
    const dialog = h('dialog', { 'aria-labelledby': 'signin-title' }, form);
    // Escape would leave the console unusable: there is nothing to go back to.
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      problem.textContent = '';
      try {
        const principal = await whoami({ token, silent: true });
        setToken(token);
        dialog.close();
        dialog.remove();
        resolve(principal);
      } catch (error) {
        problem.textContent = error instanceof AuthRequired
          ? 'The sidecar did not accept this token.' : `Could not check the token: ${error.message}`;
        input.select();
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

export function signOut() {
  clearToken();
}

