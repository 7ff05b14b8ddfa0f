"""AlertEngine: when rules run, and the lifecycle of what they find.

- On every applied event (JobStore listener) it runs only the cheap, event-driven rules whose inputs
  changed (status, counts, resources): a few comparisons, no I/O; a job's end also feeds the fleet
  failure rate. Time-driven rules (overdue, predicted overrun, stalled), the fleet's queues and the
  sidecar's own figures (fleet.py), repeats, expiry and group flushing run on a ticker; host resources
  on a sampler in a thread.
- An alert fires once per dedupe key (rule + job or host) and resolves when its condition clears or
  its job ends; a failed job's alert resolves when a later run of the same job name completes.
- Notifications are grouped: the first alert of a (rule, event, ``group_by`` fields) group waits
  ``group_window_s`` for others, so a burst becomes one message. Silences are checked when a
  notification is about to be queued. Delivery happens in background tasks (delivery.py).
- Every change is written behind to the database and published to live-feed clients as ``alert``.
- Settings change while it runs (``reconfigure``): thresholds apply at the next evaluation, a rule
  turned off stops firing (its firing alerts resolve quietly), and notifications turned off keep
  alerts firing, stored and on the feed without telling anyone until they are turned on again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from jobpulse.sidecar.alerting import rules
from jobpulse.sidecar.alerting.config import AlertingSettings, ErrorRateRule, RuleConfig
from jobpulse.sidecar.alerting.delivery import Channel, Delivery, Outgoing
from jobpulse.sidecar.alerting.fleet import (
    FLEET_FAILURE_RATE,
    JOB_MISSED,
    QUEUE_DEPTH,
    QUEUE_WAIT,
    Check,
    FleetWatch,
)
from jobpulse.sidecar.alerting.hints import HintBook
from jobpulse.sidecar.alerting.host import HostSampler
from jobpulse.sidecar.alerting.model import (
    FIRE,
    REPEAT,
    RESOLVE,
    RESOLVED,
    SOURCE_ALERTMANAGER,
    Alert,
    Condition,
    Silence,
    alert_view,
)
from jobpulse.sidecar.alerting.repository import AlertRepository
from jobpulse.sidecar.feed import protocol
from jobpulse.sidecar.feed.hub import FeedHub
from jobpulse.sidecar.ingest.receiver import IngestStats
from jobpulse.sidecar.model.events import KIND_LOG
from jobpulse.sidecar.model.state import COMPLETED, FAILED, LOST, PAUSED, RUNNING, JobState
from jobpulse.sidecar.schedules.book import ScheduleBook
from jobpulse.sidecar.store import JobChange, JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.alerting")

_NS = 1_000_000_000
# Silences and learned durations are re-read this often, so changes made through another replica apply.
_SILENCE_REFRESH_S = 5.0


class _Group:
    """Notifications waiting for their group's window to close."""

    __slots__ = ("deadline_ns", "items", "kind")

    def __init__(self, kind: str, deadline_ns: int) -> None:
        self.kind = kind
        self.deadline_ns = deadline_ns
        # By (key, occurrence): a second repeat of an alert within one window replaces the first.
        self.items: dict[tuple[str, str], tuple[Alert, str]] = {}


class AlertEngine:
    """Rules -> alerts -> grouped notifications. See the module docstring."""

    def __init__(
        self,
        settings: AlertingSettings,
        store: JobStore,
        repository: AlertRepository,
        delivery: Delivery,
        *,
        hub: FeedHub | None = None,
        ingest: IngestStats | None = None,
        schedules: ScheduleBook | None = None,
        sampler: HostSampler | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.rules = settings.rules
        self.store = store
        self.repository = repository
        self.delivery = delivery
        self.hub = hub
        self.sampler = sampler
        self.clock_ns = clock_ns
        self.hints = HintBook(settings.hints, settings.builtin_hints)
        self.fleet = FleetWatch(sampler.host if sampler is not None else socket.gethostname(), hub, ingest, schedules)
        self.active: dict[str, Alert] = {}
        self.silences: list[Silence] = []
        # Learned p95 durations by job name (seconds), refreshed from history.
        self.learned: dict[str, float] = {}
        self.fired_total = 0
        self.resolved_total = 0
        self._by_job: dict[str, set[str]] = {}
        self._failed_by_name: dict[str, set[str]] = {}
        # Job id -> (processed count, sidecar time since which it has not changed): the stall clock.
        self._progress: dict[str, tuple[int, int]] = {}
        self._groups: dict[tuple[Any, ...], _Group] = {}
        self._channels = self._routes()
        self._tasks = BackgroundTasks()
        # Changes are judged only between start (firing alerts restored) and stop.
        self._listening = False
        self._learned_ns: int | None = None
        delivery.on_sent = self._on_sent
        store.add_listener(self.on_change)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Pick up firing alerts and silences from the database, then listen and tick."""
        await self.restore()
        await self.refresh()
        self._listening = True
        self._tasks.every(lambda: self.settings.evaluation_interval_s, self.tick, "alert rule ticker")
        self._tasks.every(_SILENCE_REFRESH_S, self.refresh, "alert silence refresh")
        if self.sampler is not None:
            self._tasks.every(
                lambda: self.rules.resource_pressure.sample_interval_s, self._sample_host, "host resource sampling"
            )

    def reconfigure(self, settings: AlertingSettings) -> None:
        """Take new alerting settings (delivery has taken its part first); see the module docstring."""
        previous = self.settings
        self.settings, self.rules = settings, settings.rules
        if (settings.hints, settings.builtin_hints) != (previous.hints, previous.builtin_hints):
            self.hints = HintBook(settings.hints, settings.builtin_hints)
        if settings.expected_durations != previous.expected_durations:
            self._learned_ns = None
        if self.sampler is not None:
            self.sampler.disk_path = settings.rules.resource_pressure.disk_path
        self._channels = self._routes()
        now_ns = self.clock_ns()
        for alert in list(self.active.values()):
            if not self._rule(alert).enabled:
                self._resolve(alert, now_ns, "its rule was turned off", notify=False)
        # Changes judge the error rate only when they can tip it (on_change): new thresholds are
        # judged here, for every running job, at once.
        if (
            self._listening
            and settings.rules.error_rate.enabled
            and settings.rules.error_rate != previous.rules.error_rate
        ):
            for state in self.store.active():
                self._judge_error_rate(state, now_ns)

    def _routes(self) -> dict[str, list[Channel]]:
        """The channels each rule notifies."""
        rules = self.rules
        return {name: self.delivery.channels_for(getattr(rules, name).channels) for name in rules.__struct_fields__}

    async def stop(self) -> None:
        """Stop listening and ticking; groups still waiting are handed to delivery at once."""
        self._listening = False
        await self._tasks.cancel()
        self.flush_groups(None)

    @property
    def running(self) -> bool:
        return self._tasks.running

    async def restore(self) -> None:
        """Firing alerts from the database (a restart must not forget them or notify them again)."""
        now_ns = self.clock_ns()
        for alert in await self.repository.firing():
            alert.notified = alert.last_notified_ns is not None
            alert.repeats = self._repeats_due(alert, now_ns)
            state = self.store.get(alert.job_id) if alert.job_id else None
            alert.job_status = state.status if state else None
            self._add(alert)
            # A job that ended while the sidecar was down no longer has what fired (a failure waits
            # for a successful run instead).
            if alert.job_id and alert.rule != rules.JOB_FAILED and (state is None or state.is_terminal):
                self._resolve(alert, now_ns, "the job ended while the sidecar was down")

    async def refresh(self) -> None:
        """Re-read silences and, when due, learned durations."""
        now_ns = self.clock_ns()
        self.silences = await self.repository.silences(now_ns)
        durations = self.settings.expected_durations
        refresh_ns = int(durations.history_refresh_s * _NS)
        if durations.learn_from_history and (self._learned_ns is None or now_ns - self._learned_ns >= refresh_ns):
            self._learned_ns = now_ns
            since_ns = now_ns - int(durations.history_days * 86400 * _NS)
            self.learned = await self.repository.duration_p95(since_ns, durations.history_min_runs)

    # ---- events (the ingest path: keep it cheap) -----------------------------------------------

    def on_change(self, change: JobChange) -> None:
        old, new, event = change
        if event.kind == KIND_LOG or not self._listening:
            return
        status_changed = old is None or old.status != new.status
        if not status_changed and new.is_terminal:
            return
        error_rate = self.rules.error_rate
        # Most changes are a running job's counts moving: judge only the rules such a change can
        # tip, so a progress record costs a few comparisons and the stall clock's update.
        moved = status_changed or old.processed != new.processed
        judge_errors = error_rate.enabled and (old is None or self._error_rate_may_tip(old, new, error_rate))
        resources_moved = self.rules.resource_pressure.enabled and (old is None or new.resources is not old.resources)
        if not (moved or judge_errors or resources_moved):
            return
        now_ns = self.clock_ns()
        if status_changed:
            self._status_changed(new, now_ns)
            if new.is_terminal:
                return
        if moved:
            self._progress[new.id] = (new.processed, now_ns)
        if judge_errors:
            self._judge_error_rate(new, now_ns)
        if resources_moved:
            pressure = self.rules.resource_pressure
            self._level(
                rules.key(rules.RESOURCE_PRESSURE, f"job:{new.id}"),
                rules.job_rss_mb(new, pressure) is not None,
                now_ns,
                "the job's memory is back under its threshold",
                rules.job_memory,
                new,
                pressure,
            )

    def _error_rate_may_tip(self, old: JobState, new: JobState, rule: ErrorRateRule) -> bool:
        """Whether the change from ``old`` to ``new`` can fire or resolve the job's error-rate alert.

        With the failed count unchanged, a growing processed count only lowers the ratio: it can fire
        only by reaching the minimum count, and resolve only an alert of this job that is firing.
        """
        if old.failed != new.failed or new.processed < old.processed:
            return True
        if old.processed == new.processed:
            return False
        return old.processed < rule.min_processed <= new.processed or new.id in self._by_job

    def _judge_error_rate(self, state: JobState, now_ns: int) -> None:
        error_rate = self.rules.error_rate
        self._level(
            rules.key(rules.ERROR_RATE, state.id),
            rules.error_ratio(state, error_rate) is not None,
            now_ns,
            "the error rate is back under its threshold",
            rules.error_rate,
            state,
            error_rate,
        )

    def _status_changed(self, state: JobState, now_ns: int) -> None:
        lost_key = rules.key(rules.JOB_LOST, state.id)
        if state.status == LOST:
            if self.rules.job_lost.enabled:
                self._fire(rules.job_lost(state, now_ns), now_ns)
        elif lost_key in self.active and not state.is_terminal:
            self._resolve(self.active[lost_key], now_ns, "the job was heard from again")
        if not state.is_terminal:
            return
        self._progress.pop(state.id, None)
        if self.rules.fleet_failure_rate.enabled:
            self._check(self.fleet.job_ended(state, now_ns, self.rules.fleet_failure_rate), now_ns)
        for key in list(self._by_job.get(state.id, ())):
            alert = self.active[key]
            if alert.rule != rules.JOB_FAILED:
                self._resolve(alert, now_ns, f"the job ended ({state.status})")
        if state.status == FAILED and self.rules.job_failed.enabled:
            self._fire(rules.job_failed(state, self.rules.job_failed, self.hints), now_ns)
        elif state.status == COMPLETED and state.name in self._failed_by_name:
            for key in list(self._failed_by_name[state.name]):
                self._resolve(self.active[key], now_ns, f"a later run of {state.name} completed (job id {state.id})")

    # ---- the ticker ----------------------------------------------------------------------------

    def tick(self) -> None:
        """One pass of the ticker: time-based rules, repeats and expiry, due group notifications."""
        now_ns = self.clock_ns()
        self.evaluate_jobs(now_ns)
        self.evaluate_fleet(now_ns)
        self.repeat_and_expire(now_ns)
        self.flush_groups(now_ns)

    def evaluate_jobs(self, now_ns: int) -> None:
        """The time-driven job rules: overdue, predicted overrun, stalled."""
        overdue, predicted, stalled = self.rules.job_overdue, self.rules.job_predicted_overrun, self.rules.job_stalled
        for state in self.store.active():
            if state.status not in (RUNNING, PAUSED):
                continue
            since = self._progress.get(state.id)
            if since is None or since[0] != state.processed:
                # Restored at start-up (not announced) or moved without a change reaching us yet.
                since = self._progress[state.id] = (state.processed, now_ns)
            # Overdue and a prediction are raised once per run and stay until the job ends: once firing,
            # there is nothing to evaluate.
            check_overdue = overdue.enabled and rules.key(rules.JOB_OVERDUE, state.id) not in self.active
            check_predicted = predicted.enabled and rules.key(rules.JOB_PREDICTED_OVERRUN, state.id) not in self.active
            if check_overdue or check_predicted:
                expected = rules.expected_duration(state, self.settings.expected_durations, self.learned)
                if check_overdue:
                    self._fire(rules.job_overdue(state, now_ns, expected), now_ns)
                if check_predicted:
                    self._fire(rules.job_predicted_overrun(state, now_ns, expected, predicted), now_ns)
            if stalled.enabled:
                self._level(
                    rules.key(rules.JOB_STALLED, state.id),
                    rules.stalled_for(state, since[1], now_ns, stalled) is not None,
                    now_ns,
                    "the job is advancing again" if state.status == RUNNING else "the job was paused",
                    rules.job_stalled,
                    state,
                    since[1],
                    now_ns,
                    stalled,
                )

    def evaluate_fleet(self, now_ns: int) -> None:
        """The ticker's fleet rules: failure rates as runs age out, queues, scheduled runs, the sidecar's
        own figures."""
        configured, fleet = self.rules, self.fleet
        checks: list[Check] = []
        if configured.fleet_failure_rate.enabled:
            scopes = self._firing_details(FLEET_FAILURE_RATE, "scope")
            checks += fleet.aged_failure_rates(configured.fleet_failure_rate, now_ns, scopes)
        if configured.queue_depth.enabled or configured.queue_wait.enabled:
            checks += fleet.queues(
                self.store.active(),
                now_ns,
                configured.queue_depth if configured.queue_depth.enabled else None,
                configured.queue_wait if configured.queue_wait.enabled else None,
                self._firing_details(QUEUE_DEPTH, "queue") | self._firing_details(QUEUE_WAIT, "queue"),
            )
        if configured.job_missed.enabled:
            checks += fleet.missed_runs(now_ns, self._firing_details(JOB_MISSED, "subject"))
        if configured.feed_delay.enabled:
            checks += fleet.feed_delay(configured.feed_delay, now_ns)
        if configured.ingest_lag.enabled:
            checks += fleet.ingest_lag(configured.ingest_lag, now_ns)
        if configured.feed_connection_failures.enabled:
            checks += fleet.feed_connection_failures(configured.feed_connection_failures, now_ns)
        self._check(checks, now_ns)

    def _firing_details(self, rule: str, field: str) -> set[str]:
        """``details[field]`` of the sidecar's firing alerts of ``rule``."""
        return {
            alert.details[field]
            for alert in self.active.values()
            if alert.rule == rule and alert.source != SOURCE_ALERTMANAGER and field in alert.details
        }

    def _check(self, checks: Iterable[Check], now_ns: int) -> None:
        for check in checks:
            self._level(check.key, check.holds, now_ns, check.reason, check.build)

    def repeat_and_expire(self, now_ns: int) -> None:
        """Repeats of long-lasting alerts, notices owed since a silence ended, expiry of old failures."""
        expire_ns = int(self.rules.job_failed.expire_after_s * _NS)
        for alert in list(self.active.values()):
            if (
                alert.rule == rules.JOB_FAILED
                and alert.source != SOURCE_ALERTMANAGER
                and now_ns - alert.fired_ns > expire_ns
            ):
                self._resolve(alert, now_ns, "expired without a successful run", notify=False)
                continue
            silenced = self._silenced(alert, now_ns)
            if silenced != alert.silenced:
                alert.silenced = silenced
                self.repository.save(alert)
            if silenced:
                continue
            if not alert.notified:
                self._notify(alert, FIRE, FIRE, now_ns)
                continue
            due = self._repeats_due(alert, now_ns)
            if due > alert.repeats:
                alert.repeats = due
                self._notify(alert, REPEAT, f"{REPEAT}{due}", now_ns)

    def _repeats_due(self, alert: Alert, now_ns: int) -> int:
        interval = self.settings.repeat_interval(self._rule(alert))
        return int((now_ns - alert.fired_ns) / _NS // interval) if interval else 0

    async def _sample_host(self) -> None:
        assert self.sampler is not None
        if not self.rules.resource_pressure.enabled:
            return
        sample = await asyncio.to_thread(self.sampler.sample)
        self.evaluate_host(sample, self.clock_ns())

    def evaluate_host(self, sample: rules.HostSample, now_ns: int) -> None:
        running = sum(1 for state in self.store.active() if state.status == RUNNING)
        found = rules.host_pressure(sample, running, self.rules.resource_pressure, str(now_ns // _NS))
        for key, condition in found.items():
            self._level(
                key, condition is not None, now_ns, "no longer beyond its threshold while jobs run", found.get, key
            )

    # ---- alerts --------------------------------------------------------------------------------

    def _rule(self, alert: Alert | Condition) -> RuleConfig:
        return self.rules.alertmanager if alert.source == SOURCE_ALERTMANAGER else getattr(self.rules, alert.rule)

    def _silenced(self, alert: Alert, now_ns: int) -> bool:
        return any(silence.matches(alert, now_ns) for silence in self.silences)

    def _add(self, alert: Alert) -> None:
        self.active[alert.key] = alert
        if alert.job_id:
            self._by_job.setdefault(alert.job_id, set()).add(alert.key)
        if alert.rule == rules.JOB_FAILED and alert.job_name:
            self._failed_by_name.setdefault(alert.job_name, set()).add(alert.key)

    def _remove(self, alert: Alert) -> None:
        del self.active[alert.key]
        for index, name in ((self._by_job, alert.job_id), (self._failed_by_name, alert.job_name)):
            keys = index.get(name) if name else None
            if keys is not None:
                keys.discard(alert.key)
                if not keys:
                    del index[name]

    def _level(
        self, key: str, holds: bool, now_ns: int, reason: str, build: Callable[..., Condition | None], *args: Any
    ) -> None:
        """For conditions that hold for a while: fire while true (once), resolve when false.

        The condition (texts, details) is built, as ``build(*args)``, only to fire: while it keeps
        holding, nothing is.
        """
        if holds:
            if key not in self.active:
                self._fire(build(*args), now_ns)
        elif key in self.active:
            self._resolve(self.active[key], now_ns, reason)

    def fire(self, condition: Condition) -> Alert | None:
        """Fire an alert from outside the rules (Alertmanager), unless its rule is turned off."""
        if not self._rule(condition).enabled:
            return None
        return self._fire(condition, self.clock_ns())

    def _fire(self, condition: Condition | None, now_ns: int) -> Alert | None:
        """A new alert for ``condition``, unless its key is already firing (dedupe)."""
        if condition is None or condition.key in self.active:
            return None
        alert = Alert.fire(condition, self._rule(condition).severity, now_ns, silenced=False)
        alert.silenced = self._silenced(alert, now_ns)
        self._add(alert)
        self.fired_total += 1
        self._changed(alert)
        if not alert.silenced:
            self._notify(alert, FIRE, FIRE, now_ns)
        return alert

    def resolve(self, key: str, occurrence: str, reason: str) -> Alert | None:
        """Resolve the firing alert ``key`` if it is that occurrence (Alertmanager)."""
        alert = self.active.get(key)
        if alert is None or alert.occurrence != occurrence:
            return None
        self._resolve(alert, self.clock_ns(), reason)
        return alert

    def _resolve(self, alert: Alert, now_ns: int, reason: str, *, notify: bool = True) -> None:
        self._remove(alert)
        alert.state = RESOLVED
        alert.resolved_ns = now_ns
        alert.resolution = reason
        self.resolved_total += 1
        self._changed(alert)
        if notify and alert.notified and self._rule(alert).notify_resolved and not self._silenced(alert, now_ns):
            self._notify(alert, RESOLVE, RESOLVE, now_ns)

    def _changed(self, alert: Alert) -> None:
        self.repository.save(alert)
        if self.hub is not None:
            meta = protocol.MessageMeta(protocol.ALERT, alert.job_id, alert.job_type, alert.job_status, None, 0)
            self.hub.publish(protocol.ALERT, alert_view(alert), meta)

    def _on_sent(self, alerts: Iterable[Alert], now_ns: int) -> None:
        for sent in alerts:
            alert = self.active.get(sent.key)
            if alert is not None and alert.occurrence == sent.occurrence:
                alert.last_notified_ns = now_ns

    # ---- grouping ------------------------------------------------------------------------------

    def _notify(self, alert: Alert, kind: str, event: str, now_ns: int) -> None:
        """Put a notification of ``alert`` into its group; the group is sent when its window closes."""
        if not self.settings.notifications_enabled:
            # Not marked notified: turned on again, a firing alert is notified at the next tick.
            return
        if kind != RESOLVE:
            alert.notified = True
        group_key = (alert.rule, alert.source, kind, *(getattr(alert, field) for field in self.settings.group_by))
        group = self._groups.get(group_key)
        if group is None:
            group = self._groups[group_key] = _Group(kind, now_ns + int(self.settings.group_window_s * _NS))
        # A copy: what was true when it fired is what the notification says.
        group.items[(alert.key, alert.occurrence)] = (msgspec.structs.replace(alert), event)

    def flush_groups(self, now_ns: int | None) -> None:
        """Hand every group whose window has closed (all of them when ``now_ns`` is None) to delivery."""
        check_ns = now_ns if now_ns is not None else self.clock_ns()
        for group_key, group in list(self._groups.items()):
            if now_ns is not None and group.deadline_ns > now_ns:
                continue
            del self._groups[group_key]
            if not self.settings.notifications_enabled:
                continue
            items = tuple(
                (alert, event) for alert, event in group.items.values() if not self._silenced(alert, check_ns)
            )
            if not items:
                continue
            first = items[0][0]
            channels = self._channels["alertmanager" if first.source == SOURCE_ALERTMANAGER else first.rule]
            for channel in channels:
                self.delivery.submit(channel, Outgoing(group.kind, items))

    # ---- silences ------------------------------------------------------------------------------

    async def add_silence(self, silence: Silence) -> Silence:
        """Store a silence; it applies here at once (other replicas pick it up within seconds)."""
        stored = await self.repository.add_silence(silence)
        self.silences.append(stored)
        return stored

    async def delete_silence(self, silence_id: int) -> bool:
        deleted = await self.repository.delete_silence(silence_id)
        self.silences = [silence for silence in self.silences if silence.id != silence_id]
        return deleted

    # ---- reading -------------------------------------------------------------------------------

    def firing_counts(self) -> dict[tuple[str, str], int]:
        """Firing alerts by (rule, severity), for metrics."""
        counts: dict[tuple[str, str], int] = {}
        for alert in self.active.values():
            counts[(alert.rule, alert.severity)] = counts.get((alert.rule, alert.severity), 0) + 1
        return counts
