// The console's picture of the jobs, folded from live-feed messages: the active jobs, the ones that
// ended while the page was open, their resource samples, control commands and alerts.

export const STATUSES = ['pending', 'running', 'paused', 'completed', 'failed', 'cancelled', 'lost'];
const ENDED = new Set(['completed', 'failed', 'cancelled']);
// Statuses whose figures move while the job is heard from (a lost job's are frozen by definition).
const MOVING = new Set(['pending', 'running', 'paused']);
const SAMPLES_KEPT = 120;
const ENDED_KEPT = 50;
const ALERTS_KEPT = 200;

/** Ended for good: completed, failed or cancelled (a lost job may still come back). */
export function isEnded(job) {
  return ENDED.has(job.status);
}

function commandOf(pending, state) {
  return {
    id: pending.command_id,
    action: pending.action,
    reason: pending.reason,
    requested_by: pending.requested_by,
    requested_at: pending.requested_at,
    state,
    resolved_at: null,
  };
}

function alertTime(alert) {
  return Date.parse(alert.resolved_at ?? alert.fired_at);
}

/**
 * Fires 'change' with detail `{changed, missing, resolving, resynced, alerts}`: ids of jobs that changed;
 * ids the feed no longer lists as active without having said how they ended, or that it mentioned
 * before introducing them (fetch their summary and `applySummary` it); ids whose pending command was
 * answered (fetch the job's commands and `resolveCommand`); whether a resync replaced the picture;
 * alerts that arrived.
 */
export class JobBoard extends EventTarget {
  constructor({ heartbeatWindowS = 60, clock = () => Date.now() } = {}) {
    super();
    this.heartbeatWindowMs = heartbeatWindowS * 1000;
    this.clock = clock;
    this.jobs = new Map();
    this.alerts = new Map();
    // Whether the feed is connected: figures of a board that is not are last known, not live.
    this.live = false;
  }

  apply(messages) {
    const now = this.clock();
    const change = { changed: new Set(), missing: new Set(), resolving: new Set(), resynced: false, alerts: [] };
    for (const message of messages) {
      switch (message.type) {
        case 'resync':
          change.resynced = true;
          this.#replaceActive(message, now, change);
          break;
        case 'snapshot':
          this.#replaceActive(message, now, change);
          break;
        case 'job_status_update':
          this.#merge(message.data, message.timestamp, now, change, true);
          break;
        case 'job_progress':
          if (!this.jobs.has(message.data.id)) change.missing.add(message.data.id);
          this.#merge(message.data, message.timestamp, now, change, false);
          break;
        case 'alert':
          this.#keepAlert(message.data);
          change.alerts.push(message.data);
          break;
        default:
          break;
      }
    }
    this.#emit(change);
  }

  /** A job summary from REST, for a job the feed could not tell about: news as of now. */
  applySummary(summary) {
    const now = this.clock();
    const change = { changed: new Set(), missing: new Set(), resolving: new Set(), resynced: false, alerts: [] };
    this.#merge(summary, null, now, change, true);
    this.#emit(change);
  }

  remove(id) {
    if (this.jobs.delete(id)) this.#emit({ changed: new Set([id]), missing: new Set(), resolving: new Set(), alerts: [] });
  }

  /** The command a pause/resume/cancel request created, shown as pending until the feed has it. */
  notePending(jobId, command) {
    const job = this.jobs.get(jobId);
    if (!job) return;
    if ((job.pending_command?.command_id ?? 0) >= command.id || (job.lastCommand?.id ?? 0) >= command.id) return;
    job.localCommand = command;
    this.#emit({ changed: new Set([jobId]), missing: new Set(), resolving: new Set(), alerts: [] });
  }

  /** What became of a job's last command (from GET /api/jobs/{id}/commands). */
  resolveCommand(jobId, command) {
    const job = this.jobs.get(jobId);
    if (!job || (job.lastCommand && job.lastCommand.id > command.id)) return;
    job.lastCommand = command;
    if (job.localCommand && job.localCommand.id <= command.id) job.localCommand = null;
    this.#emit({ changed: new Set([jobId]), missing: new Set(), resolving: new Set(), alerts: [] });
  }

  setAlerts(alerts) {
    for (const alert of alerts) this.#keepAlert(alert);
    this.#emit({ changed: new Set(), missing: new Set(), resolving: new Set(), alerts: [] });
  }

  setLive(live) {
    if (this.live === live) return;
    this.live = live;
    this.#emit({ changed: new Set(this.jobs.keys()), missing: new Set(), resolving: new Set(), alerts: [] });
  }

  /** A running job nobody has heard from for longer than the heartbeat window: its figures are old. */
  isStale(job, now = this.clock()) {
    return MOVING.has(job.status) && now - job.newsAt > this.heartbeatWindowMs;
  }

  /** Seconds the job has run, ticking between updates while its figures are live. */
  elapsed(job, now = this.clock()) {
    if (job.execution_time_s === null || job.execution_time_s === undefined) return null;
    if (!MOVING.has(job.status) || !this.live || this.isStale(job, now)) return job.execution_time_s;
    return job.execution_time_s + Math.max(0, now - job.receivedAt) / 1000;
  }

  firingAlerts() {
    return [...this.alerts.values()].filter((alert) => alert.state === 'firing')
      .sort((a, b) => alertTime(b) - alertTime(a));
  }

  /** The newest job_failed alert of a job: it carries the suggested actions. */
  failureAlert(jobId) {
    let found = null;
    for (const alert of this.alerts.values()) {
      if (alert.job_id === jobId && alert.rule === 'job_failed' && (!found || alertTime(alert) > alertTime(found))) {
        found = alert;
      }
    }
    return found;
  }

  jobTypes() {
    return [...new Set([...this.jobs.values()].map((job) => job.job_type).filter(Boolean))].sort();
  }

  // A snapshot may come in parts (`data.part` of `data.parts`, one frame each): the jobs of every part
  // are merged as they come, and those no part listed are missing once the last part is in.
  #listed = new Set();

  #replaceActive(message, now, change) {
    const { part = 1, parts = 1 } = message.data;
    if (part === 1) this.#listed = new Set();
    for (const summary of message.data.jobs) {
      this.#listed.add(summary.id);
      this.#merge(summary, message.timestamp, now, change, true);
    }
    if (part < parts) return;
    for (const job of this.jobs.values()) {
      if (!isEnded(job) && !this.#listed.has(job.id)) change.missing.add(job.id);
    }
    this.#listed = new Set();
  }

  #merge(data, timestamp, now, change, complete) {
    const previous = this.jobs.get(data.id);
    const job = previous ?? { id: data.id, samples: [], lastCommand: null, localCommand: null, newsAt: now };
    const hadPending = previous?.pending_command ?? null;
    Object.assign(job, data);
    job.receivedAt = now;
    if (complete) {
      // last_seen_at and the message's timestamp are both the sidecar's clock: their difference is
      // how long the job has been silent, whatever this machine's clock says.
      const sentAt = timestamp === null ? null : Date.parse(timestamp);
      const seenAt = data.last_seen_at ? Date.parse(data.last_seen_at) : sentAt;
      job.newsAt = sentAt === null ? now : now - Math.max(0, sentAt - seenAt);
      this.#trackCommands(job, hadPending, sentAt, change);
    } else {
      job.newsAt = now;
      this.#sample(job, now);
    }
    if (isEnded(job)) job.endedAt ??= now;
    change.changed.add(job.id);
    this.jobs.set(job.id, job);
  }

  #trackCommands(job, hadPending, sentAt, change) {
    const pending = job.pending_command;
    if (hadPending && pending?.command_id !== hadPending.command_id) {
      job.lastCommand = commandOf(hadPending, 'resolving');
      change.resolving.add(job.id);
    }
    const local = job.localCommand;
    if (!local) return;
    if ((pending?.command_id ?? 0) >= local.id || (job.lastCommand?.id ?? 0) >= local.id) {
      job.localCommand = null;
    } else if (!pending && sentAt !== null && sentAt > Date.parse(local.requested_at)) {
      // A picture made after the request, without it pending: it was answered while we were away.
      job.lastCommand = { ...local, state: 'resolving' };
      job.localCommand = null;
      change.resolving.add(job.id);
    }
  }

  #sample(job, now) {
    if (job.memory_rss_bytes === null && job.cpu_percent === null) return;
    const last = job.samples.at(-1);
    if (last && last.memory === job.memory_rss_bytes && last.cpu === job.cpu_percent) return;
    job.samples.push({ t: now, memory: job.memory_rss_bytes ?? null, cpu: job.cpu_percent ?? null });
    if (job.samples.length > SAMPLES_KEPT) job.samples.splice(0, job.samples.length - SAMPLES_KEPT);
  }

  #keepAlert(alert) {
    const known = this.alerts.get(alert.key);
    if (known && alertTime(known) > alertTime(alert)) return;
    this.alerts.set(alert.key, alert);
    if (this.alerts.size > ALERTS_KEPT) {
      const oldest = [...this.alerts.values()].filter((item) => item.state !== 'firing')
        .sort((a, b) => alertTime(a) - alertTime(b));
      for (const item of oldest.slice(0, this.alerts.size - ALERTS_KEPT)) this.alerts.delete(item.key);
    }
  }

  #emit(change) {
    const ended = [...this.jobs.values()].filter(isEnded);
    if (ended.length > ENDED_KEPT) {
      ended.sort((a, b) => a.endedAt - b.endedAt);
      for (const job of ended.slice(0, ended.length - ENDED_KEPT)) this.jobs.delete(job.id);
    }
    this.dispatchEvent(new CustomEvent('change', {
      detail: { resynced: false, ...change, missing: [...change.missing], resolving: [...change.resolving] },
    }));
  }
}
