// The live feed client (docs/live-feed.md): reconnects with exponential backoff and jitter, resumes
// from the last cursor it saw, and says which state it is in.

import { AuthRequired } from './api.js';
import { wsTicket } from './auth.js';

// The types whose cursor is a baseline ("everything after it will still arrive") rather than a step.
const BASELINES = new Set(['snapshot', 'resync']);

/**
 * Milliseconds to wait before reconnect attempt `attempt` (0 for the first): the cap doubles from
 * `baseMs` up to `maxMs`, and the wait is half the cap plus a random part of the other half ("equal
 * jitter"), so waits still grow while a crowd of clients spreads out after a restart.
 */
export function backoffDelay(attempt, { baseMs = 500, maxMs = 10_000, random = Math.random } = {}) {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return cap / 2 + random() * (cap / 2);
}

/**
 * One WebSocket subscription that stays open. Events:
 * - 'state': detail `{state, resumed, attempt, retryInMs}`; state is 'connecting', 'live', 'offline',
 *   'signed-out' (the ticket needs a sign-in; call start() again after it) or 'stopped'.
 * - 'messages': detail `{messages, resumed}`, one frame's messages in order.
 */
export class LiveFeed extends EventTarget {
  #socket = null;
  #timer = null;
  #watchdog = null;
  #attempt = 0;
  #stopped = true;
  #lastFrameAt = 0;

  constructor({ params = {}, ticket = wsTicket, baseMs = 500, maxMs = 10_000, pingMs = 20_000 } = {}) {
    super();
    this.params = params;
    this.ticket = ticket;
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.pingMs = pingMs;
    this.cursor = null;
    this.state = 'stopped';
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#attempt = 0;
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#watchdog);
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000);
    this.#setState('stopped');
  }

  /** Skip the rest of the backoff wait (the browser says it is back online). */
  retryNow() {
    if (this.#stopped || this.state !== 'offline') return;
    clearTimeout(this.#timer);
    this.#connect();
  }

  #setState(state, details = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...details } }));
  }

  async #connect() {
    this.#setState('connecting', { attempt: this.#attempt });
    let ticket;
    try {
      ticket = await this.ticket();
    } catch (error) {
      if (this.#stopped) return;
      if (error instanceof AuthRequired) {
        this.#stopped = true;
        this.#setState('signed-out');
      } else {
        this.#retry();
      }
      return;
    }
    if (this.#stopped) return;
    const url = new URL('/ws', window.location.href);
    url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    for (const [key, value] of Object.entries(this.params)) {
      for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item));
    }
    const resumed = this.cursor !== null;
    if (resumed) url.searchParams.set('cursor', String(this.cursor));
    if (ticket) url.searchParams.set('ticket', ticket);
    const socket = new WebSocket(url);
    this.#socket = socket;
    socket.addEventListener('open', () => {
      if (socket !== this.#socket) return;
      this.#attempt = 0;
      this.#lastFrameAt = Date.now();
      this.#watch(socket);
      this.#setState('live', { resumed });
    });
    socket.addEventListener('message', (event) => {
      if (socket !== this.#socket) return;
      this.#lastFrameAt = Date.now();
      this.#receive(event.data, resumed);
    });
    socket.addEventListener('close', () => {
      if (socket !== this.#socket) return;
      this.#socket = null;
      clearInterval(this.#watchdog);
      if (!this.#stopped) this.#retry();
    });
  }

  #receive(text, resumed) {
    let messages;
    try {
      messages = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(messages)) return;
    for (const message of messages) {
      if (!Number.isSafeInteger(message.cursor)) continue;
      // A snapshot in parts is a baseline once its last part is in (docs/live-feed.md).
      if (BASELINES.has(message.type) && (message.data?.part ?? 1) < (message.data?.parts ?? 1)) continue;
      if (BASELINES.has(message.type) || this.cursor === null || message.cursor > this.cursor) {
        this.cursor = message.cursor;
      }
    }
    this.dispatchEvent(new CustomEvent('messages', { detail: { messages, resumed } }));
  }

  // A connection can die without a close (a laptop's network gone): ping, and give up on a socket
  // that has said nothing for two ping intervals.
  #watch(socket) {
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastFrameAt > 2 * this.pingMs) {
        this.#socket = null;
        clearInterval(this.#watchdog);
        socket.close(4000, 'no answer');
        if (!this.#stopped) this.#retry();
        return;
      }
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'ping' }));
    }, this.pingMs);
  }

  #retry() {
    const retryInMs = backoffDelay(this.#attempt, { baseMs: this.baseMs, maxMs: this.maxMs });
    this.#attempt += 1;
    this.#setState('offline', { attempt: this.#attempt, retryInMs });
    this.#timer = setTimeout(() => this.#connect(), retryInMs);
  }
}
