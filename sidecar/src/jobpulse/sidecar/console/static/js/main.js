// The console's entry point: who the user is, the live feed into the job board, the connection
// banner, and which view shows.

import { AuthRequired, get, session } from './api.js';
import { AUTH_OFF, signIn, signOut, whoami } from './auth.js';
import { h, setAttr, setText } from './dom.js';
import { LiveFeed } from './feed.js';
import { JobBoard } from './jobs.js';
import { parseRoute } from './router.js';
import * as active from './views/active.js';
import * as alerts from './views/alerts.js';
import * as analytics from './views/analytics.js';
import * as history from './views/history.js';
import * as job from './views/job.js';

const VIEWS = { active, job, history, analytics, alerts };
const NAV = [['active', 'Active jobs'], ['history', 'History'], ['analytics', 'Analytics'], ['alerts', 'Alerts']];
// How long the "back online" notice stays up.
const NOTICE_MS = 10_000;
// Jobs fetched over REST at most per resync, for those the snapshot no longer lists.
const MISSING_FETCHED = 50;

const heartbeatWindowS = Number(document.documentElement.dataset.heartbeatWindowS) || 60;
const board = new JobBoard({ heartbeatWindowS });
const feed = new LiveFeed({ params: { message_type: ['job_status_update', 'job_progress', 'alert'] } });
const ctx = { board, feed, principal: AUTH_OFF };

const main = document.getElementById('main');
const banner = document.getElementById('connection');
const announcer = document.getElementById('announcer');
const user = document.getElementById('user');
let mounted = null;
let noticeTimer = 0;
let awaitingCatchUp = false;
let signingIn = null;
// Whether the console runs (a sign-in in the middle of a session resumes it; the first one is
// followed by the start itself).
let running = false;
let routed = false;

function announce(text) {
  setText(announcer, '');
  // A separate task, so that the same text twice is announced twice.
  setTimeout(() => setText(announcer, text), 50);
}

function showBanner(state, text, { retry = false } = {}) {
  clearTimeout(noticeTimer);
  banner.dataset.state = state;
  banner.replaceChildren(h('span', {}, text));
  if (retry) banner.append(' ', h('button', { type: 'button', class: 'secondary small', onclick: () => feed.retryNow() }, 'Retry now'));
  setAttr(banner, 'hidden', false);
  document.title = `${state === 'offline' ? '(offline) ' : ''}${document.title.replace(/^\(offline\) /, '')}`;
}

function hideBannerLater() {
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    setAttr(banner, 'hidden', true);
    banner.dataset.state = 'live';
  }, NOTICE_MS);
}

feed.addEventListener('state', (event) => {
  const { state, resumed, attempt, retryInMs } = event.detail;
  // For styles and scripts that care whether what they see is live.
  document.documentElement.dataset.feed = state;
  if (state === 'offline') {
    board.setLive(false);
    showBanner('offline',
      `Offline: the sidecar cannot be reached. Reconnecting in ${Math.ceil(retryInMs / 1000)} s (attempt ${attempt}). Figures shown are the last known, not live.`,
      { retry: true });
  } else if (state === 'live') {
    board.setLive(true);
    if (resumed) {
      awaitingCatchUp = true;
      showBanner('catching-up', 'Back online: catching up on what was missed…');
    } else if (banner.dataset.state === 'offline') {
      // Never connected before (the sidecar was down when the page loaded): nothing was missed.
      setAttr(banner, 'hidden', true);
      banner.dataset.state = 'live';
    }
    document.title = document.title.replace(/^\(offline\) /, '');
  } else if (state === 'signed-out') {
    board.setLive(false);
    requireSignIn();
  }
});

feed.addEventListener('messages', (event) => {
  board.apply(event.detail.messages);
  const resynced = event.detail.messages.some((message) => message.type === 'resync');
  if (resynced) {
    showBanner('resynced', 'Resynced: some updates could not be replayed, so the view was rebuilt from a fresh snapshot.');
    hideBannerLater();
    loadFiringAlerts();
  } else if (awaitingCatchUp) {
    showBanner('caught-up', 'Back online: caught up on every update missed.');
    hideBannerLater();
  }
  awaitingCatchUp = false;
});

board.addEventListener('change', (event) => {
  const { missing, resolving, alerts: arrived } = event.detail;
  for (const id of missing.slice(0, MISSING_FETCHED)) {
    get(`/api/jobs/${encodeURIComponent(id)}`).then((summary) => board.applySummary(summary), (error) => {
      if (error.status === 404) board.remove(id);
    });
  }
  for (const id of resolving) resolveCommand(id, board.jobs.get(id)?.lastCommand?.id, 0);
  for (const alert of arrived) {
    announce(`${alert.state === 'firing' ? 'Alert' : 'Resolved'}: ${alert.summary}`);
  }
});

// The sidecar records a command's outcome just after it folds the acknowledgement: a command the
// job no longer has pending may still read as pending for a moment, so ask again a few times.
const RESOLVE_ATTEMPTS = 6;
const RESOLVE_WAIT_MS = 250;

async function resolveCommand(jobId, commandId, attempt) {
  if (commandId === undefined) return;
  let found;
  try {
    const answer = await get(`/api/jobs/${encodeURIComponent(jobId)}/commands`);
    found = answer.commands.find((item) => item.id === commandId);
  } catch {
    return;
  }
  if (found?.state === 'pending' && attempt + 1 < RESOLVE_ATTEMPTS) {
    setTimeout(() => resolveCommand(jobId, commandId, attempt + 1), RESOLVE_WAIT_MS * (attempt + 1));
  } else if (found) {
    board.resolveCommand(jobId, found);
  }
}

async function loadFiringAlerts() {
  try {
    const page = await get('/api/alerts', { state: 'firing', limit: 100 });
    board.setAlerts(page.items);
  } catch {
    // The feed brings alerts as they fire; the ones already firing wait for the next try.
  }
}

function renderUser() {
  const principal = ctx.principal;
  if (!principal.authEnabled) {
    user.replaceChildren();
    return;
  }
  user.replaceChildren(
    h('span', { class: 'who' }, `${principal.name ?? 'signed in'} (${principal.role})`),
    h('button', {
      type: 'button',
      class: 'secondary small',
      onclick: () => {
        signOut();
        feed.stop();
        running = false;
        ctx.principal = AUTH_OFF;
        renderUser();
        identify().then(resume);
      },
    }, 'Sign out'));
}

function requireSignIn() {
  if (!signingIn) {
    feed.stop();
    signingIn = signIn('The sidecar asks for an access token. It is kept for this tab only, until you sign out.')
      .then((principal) => {
        signingIn = null;
        ctx.principal = principal;
        renderUser();
        if (running) resume();
        return principal;
      });
  }
  return signingIn;
}
session.addEventListener('signin-required', requireSignIn);

async function identify() {
  try {
    ctx.principal = await whoami();
  } catch (error) {
    ctx.principal = error instanceof AuthRequired ? await requireSignIn() : AUTH_OFF;
  }
  renderUser();
}

function route() {
  // An in-page anchor is not a route: the view stays (or, on a page loaded with one, is the default).
  const target = parseRoute() ?? (mounted ? null : parseRoute('#/'));
  if (!target) return;
  const view = VIEWS[target.view] ?? active;
  mounted?.unmount();
  main.replaceChildren();
  mounted = view.mount(main, ctx, target);
  for (const link of document.querySelectorAll('nav.views a')) {
    setAttr(link, 'aria-current', link.dataset.view === (VIEWS[target.view] ? target.view : 'active') ? 'page' : null);
  }
  if (target.view !== 'job') document.title = `${mounted.title} · jobpulse`;
  // After a navigation the new view's heading has focus, as a new page's start would.
  if (routed) main.querySelector('h1')?.focus({ preventScroll: true });
  routed = true;
}

function resume() {
  running = true;
  feed.start();
  loadFiringAlerts();
  route();
}

function shell() {
  const nav = document.querySelector('nav.views ul');
  nav.replaceChildren(...NAV.map(([view, text]) => h('li', {}, h('a', { href: `#/${view}`, dataset: { view } }, text))));
  window.addEventListener('hashchange', route);
  // The skip link moves focus without touching the address, which holds the view's route.
  document.querySelector('.skip').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener('online', () => feed.retryNow());
}

shell();
identify().then(resume);
