// A job's log lines. A job that runs shows its tail, live, with earlier lines on request; a job that
// ended reads from its first line, a page at a time. Both filter by minimum level and download.

import { AuthRequired, apiUrl, download, get, getToken } from './api.js';
import { h, setAttr, setText } from './dom.js';
import { counted, when } from './format.js';
import { LiveFeed } from './feed.js';

const LEVELS = ['debug', 'info', 'warning', 'error', 'critical'];
const PAGE = 500;
const KEPT = 2000;
// Lines and events share one seq; this many seq numbers back usually hold a screenful of lines.
const EARLIER_SEQ_WINDOW = 1000;
const EARLIER_PAGES = 5;

function rank(level) {
  return LEVELS.indexOf(level);
}

function lineElement(line) {
  return h('li', { dataset: { level: line.level, seq: line.seq } },
    h('time', { datetime: line.time }, when(line.time)),
    ' ',
    h('span', { class: 'level' }, line.level.toUpperCase()),
    ' ',
    h('span', { class: 'message' }, line.message));
}

export class LogPanel {
  constructor(ctx, job, { live }) {
    this.ctx = ctx;
    this.job = job;
    this.live = live;
    this.lines = [];
    this.minLevel = 'debug';
    this.follow = true;
    this.unseen = 0;
    this.nextCursor = null;
    this.feed = null;
    const path = `/api/jobs/${encodeURIComponent(job.id)}/logs`;
    this.path = path;

    this.levelSelect = h('select', { id: 'log-level' }, LEVELS.map((level) => h('option', { value: level }, level)));
    this.followButton = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false' }, 'Pause scrolling');
    this.moreButton = h('button', { type: 'button', class: 'secondary', hidden: true },
      live ? 'Load earlier lines' : 'Load more lines');
    this.ndjson = h('a', { class: 'button-link', download: `${job.id}.ndjson` }, 'Download (NDJSON)');
    this.text = h('a', { class: 'button-link', download: `${job.id}.log` }, 'Download (text)');
    this.list = h('ol', { class: 'log', tabindex: '0', 'aria-label': `Log lines of ${job.name ?? job.id}` });
    this.status = h('p', { class: 'log-status', role: 'status' });
    this.element = h('section', { 'aria-labelledby': 'logs-heading' },
      h('h2', { id: 'logs-heading' }, live ? 'Log (live tail)' : 'Log'),
      h('div', { class: 'toolbar' },
        h('div', { class: 'field' }, h('label', { for: 'log-level' }, 'Minimum level'), this.levelSelect),
        live ? this.followButton : null,
        this.moreButton, this.ndjson, this.text),
      this.list, this.status);

    this.levelSelect.addEventListener('change', () => {
      this.minLevel = this.levelSelect.value;
      this.#updateDownloads();
      if (this.live) this.#render();
      else this.#readFromStart();
    });
    this.followButton.addEventListener('click', () => this.#setFollow(!this.follow));
    this.moreButton.addEventListener('click', () => (this.live ? this.#loadEarlier() : this.#loadMore()));
    this.list.addEventListener('scroll', () => {
      // Scrolling up to read pauses the tail; scrolling back to the end resumes it.
      const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 8;
      if (this.live && this.follow !== atEnd) this.#setFollow(atEnd);
    });
    for (const link of [this.ndjson, this.text]) {
      link.addEventListener('click', (event) => {
        if (!getToken()) return;
        event.preventDefault();
        const format = link === this.ndjson ? 'ndjson' : 'text';
        download(`${path}/download`, { format, level: this.#levelParam() }, link.getAttribute('download'))
          .catch((error) => this.#problem(error));
      });
    }
    this.#updateDownloads();
  }

  /** Show the first lines: `recent` (the job detail's last lines) for a live tail, else page one. */
  async start(recent) {
    if (this.live) {
      this.#merge(recent);
      this.moreButton.hidden = this.lines.length === 0 || this.lines[0].seq <= 1;
      this.#openFeed();
    } else {
      await this.#readFromStart();
    }
  }

  stop() {
    this.feed?.stop();
  }

  #levelParam() {
    return this.minLevel === 'debug' ? null : this.minLevel;
  }

  #updateDownloads() {
    for (const [link, format] of [[this.ndjson, 'ndjson'], [this.text, 'text']]) {
      link.href = apiUrl(`${this.path}/download`, { format, level: this.#levelParam() }).href;
    }
  }

  #setFollow(follow) {
    this.follow = follow;
    setAttr(this.followButton, 'aria-pressed', follow ? 'false' : 'true');
    if (follow) {
      this.unseen = 0;
      this.list.scrollTop = this.list.scrollHeight;
    }
    this.#describe();
  }

  #problem(error) {
    if (!(error instanceof AuthRequired)) setText(this.status, `Could not read the log: ${error.message}`);
  }

  /** Add lines; `arriving` (from the live tail) counts those shown as new below while scrolling is paused. */
  #merge(lines, { arriving = false } = {}) {
    const known = new Set(this.lines.map((line) => line.seq));
    const fresh = lines.filter((line) => !known.has(line.seq));
    if (fresh.length === 0) return;
    if (arriving && !this.follow) this.unseen += fresh.filter((line) => rank(line.level) >= rank(this.minLevel)).length;
    this.lines = [...this.lines, ...fresh].sort((a, b) => a.seq - b.seq);
    if (this.lines.length > KEPT) this.lines = this.lines.slice(this.lines.length - KEPT);
    this.#render();
  }

  #render() {
    const shown = this.lines.filter((line) => rank(line.level) >= rank(this.minLevel));
    this.list.replaceChildren(...shown.map(lineElement));
    if (this.follow) this.list.scrollTop = this.list.scrollHeight;
    this.#describe();
  }

  #describe() {
    const shown = this.list.children.length;
    const paused = this.live && !this.follow ? ` Scrolling paused${this.unseen ? `: ${this.unseen} new below` : ''}.` : '';
    setText(this.status, `${counted(shown, 'line')} shown.${paused}`);
  }

  #openFeed() {
    this.feed = new LiveFeed({
      params: { job_id: this.job.id, message_type: 'job_log', min_log_level: 'debug' },
    });
    this.feed.addEventListener('messages', (event) => {
      const lines = event.detail.messages.filter((message) => message.type === 'job_log').map((message) => message.data);
      this.#merge(lines, { arriving: true });
      if (event.detail.messages.some((message) => message.type === 'resync')) {
        setText(this.status, 'The live tail was interrupted; some lines may be missing here (the download has them all).');
      }
    });
    this.feed.start();
  }

  async #readFromStart() {
    try {
      const page = await get(this.path, { level: this.#levelParam(), limit: PAGE });
      this.lines = [];
      this.#merge(page.items);
      this.#render();
      this.nextCursor = page.next_cursor;
      this.moreButton.hidden = !this.nextCursor;
      if (page.total > this.lines.length) setText(this.status, `${this.lines.length} of ${counted(page.total, 'line')} shown.`);
    } catch (error) {
      this.#problem(error);
    }
  }

  async #loadMore() {
    try {
      const page = await get(this.path, { level: this.#levelParam(), limit: PAGE, cursor: this.nextCursor });
      this.#merge(page.items);
      this.nextCursor = page.next_cursor;
      this.moreButton.hidden = !this.nextCursor;
    } catch (error) {
      this.#problem(error);
    }
  }

  async #loadEarlier() {
    const first = this.lines[0]?.seq;
    if (first === undefined) return;
    let cursor = Math.max(0, first - EARLIER_SEQ_WINDOW);
    const earlier = [];
    try {
      for (let pages = 0; pages < EARLIER_PAGES && cursor !== null; pages += 1) {
        const page = await get(this.path, { level: this.#levelParam(), limit: PAGE, cursor });
        earlier.push(...page.items.filter((line) => line.seq < first));
        const reached = page.items.some((line) => line.seq >= first);
        cursor = reached ? null : page.next_cursor;
      }
      const wasFollowing = this.follow;
      this.follow = false;
      this.#merge(earlier);
      this.follow = wasFollowing;
      this.moreButton.hidden = first - EARLIER_SEQ_WINDOW <= 0;
    } catch (error) {
      this.#problem(error);
    }
  }
}
