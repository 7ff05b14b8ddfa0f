"""ScheduleBook: the schedules in force (configured and learned) and the last run of each.

Configured schedules come from the settings and change with them; a job's start record that says
when the job runs (``jobpulse.job.schedule.*``) teaches the book that job name's schedule, kept in the
database so a restart still knows it. A schedule in the settings wins over a learned one for the
same name. The last run of each scheduled name or type is read from history and from memory (runs
history has not written yet) at start and when a schedule is added, then followed from the job
store: the book listens for starts and ends only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

import msgspec

from jobpulse import conventions
from jobpulse.sidecar.history.queries import RunStart
from jobpulse.sidecar.model.events import KIND_LOG
from jobpulse.sidecar.model.state import PENDING, JobState
from jobpulse.sidecar.schedules.config import JOB_NAME, JOB_TYPE, ScheduleConfig
from jobpulse.sidecar.schedules.repository import ScheduleRepository
from jobpulse.sidecar.schedules.state import CONFIG, LEARNED, Due, Schedule, due
from jobpulse.sidecar.store import JobChange, JobStore
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.schedules")

# Learned schedules are written behind, this often.
_SAVE_INTERVAL_S = 1.0

Subject = tuple[str, str]

_LEARNED_FIELDS = (
    (conventions.ATTR_SCHEDULE_CRON, "cron"),
    (conventions.ATTR_SCHEDULE_EVERY, "every"),
    (conventions.ATTR_SCHEDULE_TIMEZONE, "timezone"),
    (conventions.ATTR_SCHEDULE_GRACE, "grace"),
)


class ScheduleStatus(NamedTuple):
    """A schedule, its last run (None: none known) and the run it waits for."""

    schedule: Schedule
    last: RunStart | None
    due: Due


def subject_of(schedule: Schedule) -> Subject:
    return (schedule.match, schedule.name)


def configured(configs: Iterable[ScheduleConfig], now_ns: int, before: dict[Subject, Schedule]) -> dict:
    """The schedules of ``configs``; one whose timing did not change keeps the time it was set."""
    schedules: dict[Subject, Schedule] = {}
    for config in configs:
        schedule = Schedule(
            name=config.name,
            match=config.match,
            source=CONFIG,
            cron=config.cron,
            every_s=config.every_s,
            timezone=config.timezone,
            grace_s=config.grace_s,
            since_ns=now_ns,
        )
        previous = before.get(subject_of(schedule))
        if previous is not None and previous.same_timing(schedule):
            schedule = previous
        schedules[subject_of(schedule)] = schedule
    return schedules


def learned_from(state: JobState, started_ns: int) -> Schedule | None:
    """The schedule a job's start record states, None when it states none; ValueError when it is not
    a valid one (the same checks as the settings')."""
    attributes = state.attributes or {}
    given = {field: attributes[key] for key, field in _LEARNED_FIELDS if key in attributes}
    if ("cron" not in given and "every" not in given) or not state.name:
        return None
    try:
        config = msgspec.convert({"name": state.name, **given}, ScheduleConfig)
    except msgspec.ValidationError as error:
        raise ValueError(str(error)) from None
    (schedule,) = configured([config], started_ns, {}).values()
    return msgspec.structs.replace(schedule, source=LEARNED)


def _is(state: JobState, subject: Subject) -> bool:
    """Whether ``state`` is a run (begun, not waiting in a queue) of the scheduled name or type."""
    match, name = subject
    return state.status != PENDING and (state.name if match == JOB_NAME else state.job_type) == name


class ScheduleBook:
    """See the module docstring."""

    def __init__(
        self,
        configs: list[ScheduleConfig],
        store: JobStore,
        repository: ScheduleRepository,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.repository = repository
        self.clock_ns = clock_ns
        self.configured = configured(configs, clock_ns(), {})
        self.learned: dict[str, Schedule] = {}
        self.runs: dict[Subject, RunStart] = {}
        self._unsaved: dict[str, tuple[Schedule, str]] = {}
        # Names whose start records stated a schedule that is not valid: warned about once each.
        self._refused: set[str] = set()
        self._tasks = BackgroundTasks()
        self._listening = False
        store.add_listener(self.on_change)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Read learned schedules and every schedule's last run, then listen and write behind."""
        for schedule in await self.repository.learned():
            self.learned.setdefault(schedule.name, schedule)
        await self._read_last_runs(subject_of(schedule) for schedule in self.schedules())
        self._listening = True
        self._tasks.every(_SAVE_INTERVAL_S, self.save, "learned schedule writer")

    async def stop(self) -> None:
        self._listening = False
        await self._tasks.cancel()
        await self.save()

    async def reconfigure(self, configs: list[ScheduleConfig]) -> None:
        """Take the settings' schedules: added ones are in force at once, removed ones are gone."""
        before = self.configured
        self.configured = configured(configs, self.clock_ns(), before)
        await self._read_last_runs(subject for subject in self.configured if subject not in before)

    async def _read_last_runs(self, subjects: Iterable[Subject]) -> None:
        subjects = list(subjects)
        if not subjects:
            return
        in_memory = self.store.states()
        for subject in subjects:
            stored = await self.repository.latest_start(*subject)
            found = [stored] if stored is not None else []
            found += [
                RunStart(state.id, started_ns, state.status)
                for state in in_memory
                if _is(state, subject) and (started_ns := state.begun_ns) is not None
            ]
            current = self.runs.get(subject)
            if current is not None:
                found.append(current)
            if found:
                self.runs[subject] = max(found, key=lambda run: run.started_ns)

    async def save(self) -> None:
        """Write the schedules learned since the last write; what fails is tried again next time."""
        if not self._unsaved:
            return
        unsaved, self._unsaved = self._unsaved, {}
        try:
            await self.repository.save(list(unsaved.values()))
        except Exception:
            self._unsaved = {**unsaved, **self._unsaved}
            raise

    # ---- reading -------------------------------------------------------------------------------

    def schedules(self) -> list[Schedule]:
        """The schedules in force, by job name or type: the settings' first, then learned ones."""
        shadowed = {name for match, name in self.configured if match == JOB_NAME}
        learned = [schedule for name, schedule in self.learned.items() if name not in shadowed]
        return sorted([*self.configured.values(), *learned], key=lambda schedule: (schedule.match, schedule.name))

    def statuses(self, now_ns: int) -> list[ScheduleStatus]:
        """Every schedule in force with its last run and the run it waits for at ``now_ns``."""
        found = []
        for schedule in self.schedules():
            last = self.runs.get(subject_of(schedule))
            found.append(ScheduleStatus(schedule, last, due(schedule, last.started_ns if last else None, now_ns)))
        return found

    # ---- job changes (the ingest path: keep it cheap) ------------------------------------------

    def on_change(self, change: JobChange) -> None:
        old, new, event = change
        if event.kind == KIND_LOG or not self._listening or new.status == PENDING:
            return
        if old is not None and old.status == new.status and old.started_ns == new.started_ns:
            return
        started_ns = new.begun_ns
        if started_ns is None:
            return
        if new.started_ns is not None and (old is None or old.started_ns is None):
            self._learn(new, started_ns)
        for subject in ((JOB_NAME, new.name), (JOB_TYPE, new.job_type)):
            if subject[1] is not None and self._watched(subject):
                self._ran(subject, new, started_ns)

    def _watched(self, subject: Subject) -> bool:
        return subject in self.configured or (subject[0] == JOB_NAME and subject[1] in self.learned)

    def _ran(self, subject: Subject, state: JobState, started_ns: int) -> None:
        current = self.runs.get(subject)
        # A run that started earlier and ends now is not the latest run.
        if current is None or current.job_id == state.id or started_ns >= current.started_ns:
            self.runs[subject] = RunStart(state.id, started_ns, state.status)

    def _learn(self, state: JobState, started_ns: int) -> None:
        try:
            schedule = learned_from(state, started_ns)
        except ValueError as error:
            if state.name not in self._refused:
                self._refused.add(state.name or "")
                log.warning("job %s (%s) states a schedule that is not valid: %s", state.name, state.id, error)
            return
        if schedule is None:
            return
        known = self.learned.get(schedule.name)
        if known is not None and known.same_timing(schedule):
            return
        self.learned[schedule.name] = schedule
        self._unsaved[schedule.name] = (schedule, state.id)
