"""Job log lines from ordinary `logging` records."""

from __future__ import annotations

import logging
import threading

from jobpulse.conventions import ATTR_CODE_FILE, ATTR_CODE_FUNCTION, ATTR_CODE_LINE, ATTR_LOGGER_NAME

from . import runtime
from .job import current_running, sole_running
from .recorder import exception_attributes

# Records of these loggers come from exporting (or reporting on) telemetry; capturing them would
# feed every export back into the next one.
IGNORED_LOGGERS = ("opentelemetry", "urllib3", "requests", "jobpulse.instrumentation")


class JobLogHandler(logging.Handler):
    """A `logging` handler that turns records into log lines of the job they belong to.

    A record goes to the job current in the emitting context (see `current_job`), else to the only
    job running in the process when there is exactly one (records from worker threads), else nowhere.
    The job's ``log_level`` applies on top of the handler's level. ``track_job(capture_logs=True)``
    (the default) attaches one of these to the root logger for the job's duration; attach your own
    only for jobs run with ``capture_logs=False``.

    While it is the only handler a record reaches, warnings still reach `logging.lastResort`
    (stderr), as they would without it.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(record)
        except Exception:
            self.handleError(record)

    def handle(self, record: logging.LogRecord) -> logging.LogRecord | bool:
        handled = super().handle(record)
        last_resort = logging.lastResort
        if last_resort and record.levelno >= last_resort.level and not _reaches_other_handler(record, self):
            last_resort.handle(record)
        return handled

    def _send(self, record: logging.LogRecord) -> None:
        if _ignored(record.name) or runtime.is_delivery_thread(record.thread):  # type: ignore[arg-type]
            return
        running = current_running() or sole_running()
        if running is None or record.levelno < running.job.log_level:
            return
        attributes = {
            ATTR_LOGGER_NAME: record.name,
            ATTR_CODE_FUNCTION: record.funcName,
            ATTR_CODE_FILE: record.pathname,
            ATTR_CODE_LINE: record.lineno,
        }
        if record.exc_info and record.exc_info[1] is not None:
            attributes.update(exception_attributes(record.exc_info[1]))
        # The exception travels in attributes, so the body stays the message unless a formatter is set.
        body = self.format(record) if self.formatter else record.getMessage()
        running.recorder.line(body, record.levelno, attributes, int(record.created * 1e9))


def _ignored(logger_name: str) -> bool:
    return any(logger_name == name or logger_name.startswith(name + ".") for name in IGNORED_LOGGERS)


def _reaches_other_handler(record: logging.LogRecord, handler: logging.Handler) -> bool:
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(other is not handler for other in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


class _RootLevelFloor(logging.Filter):
    """Drops what the root logger's former level would have dropped.

    A record below that level used to pass only if a logger between its origin and the root had a
    level of its own; the root's level did not decide for it.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.level:
            return True
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger is not logging.root:
            if logger.level != logging.NOTSET:
                return True
            logger = logger.parent
        return False


class RootCapture:
    """Keeps one `JobLogHandler` on the root logger while any job captures logs (refcounted).

    Capturing INFO while the root logger sits at WARNING (its default) takes lowering the root's
    level; the root's other handlers then get a filter at the former level, so what the application
    prints or ships does not change. The former level is restored when the last job ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._levels: list[int] = []
        self._handler = JobLogHandler()
        self._floor = _RootLevelFloor(logging.WARNING)
        self._floored: list[logging.Handler] = []

    def acquire(self, level: int) -> None:
        with self._lock:
            root = logging.getLogger()
            if not self._levels:
                self._floor.level = root.level
                root.addHandler(self._handler)
            self._levels.append(level)
            self._apply(root)

    def release(self, level: int) -> None:
        with self._lock:
            root = logging.getLogger()
            self._levels.remove(level)
            if not self._levels:
                root.removeHandler(self._handler)
            self._apply(root)

    def _apply(self, root: logging.Logger) -> None:
        former = self._floor.level
        wanted = min(self._levels, default=former)
        if wanted < former:
            root.setLevel(wanted)
            for handler in root.handlers:
                if handler is not self._handler and handler not in self._floored:
                    handler.addFilter(self._floor)
                    self._floored.append(handler)
        else:
            root.setLevel(former)
            for handler in self._floored:
                handler.removeFilter(self._floor)
            self._floored.clear()


root_capture = RootCapture()
