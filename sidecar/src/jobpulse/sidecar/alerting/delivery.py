"""Delivery: notifications to Apprise channels in background tasks, claimed once, retried with backoff.

- Each channel has its own bounded queue and workers, so a slow or dead channel delays only itself.
  When a queue is full, new notifications for that channel are dropped: counted, recorded as
  ``dropped`` in the notifications table and logged. The bound is checked on submit (not set on the
  asyncio queue), so a new ``queue_size`` applies to the next notification.
- Channels change while the sidecar runs: a new channel gets the next notification; a changed or
  removed one sends what it has queued (for up to the drain time) before its workers stop.
- Before sending, a worker inserts one claim per (alert occurrence, event, channel) with ON CONFLICT DO
  NOTHING; it sends only what it claimed, so replicas sharing a database notify once.
- A failed send is retried up to ``attempts`` times with exponential backoff and jitter; every attempt
  is recorded (a row of its own: start, duration, outcome, error; and the notification's summary), and
  the final failure stays visible in ``GET /api/notifications``.
- Channel URLs carry secrets: only masked URLs are shown, and secrets are scrubbed from errors and
  from Apprise's own log records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
import msgspec

from jobpulse.sidecar.alerting.config import ChannelConfig, DeliverySettings
from jobpulse.sidecar.alerting.messages import Message, render
from jobpulse.sidecar.alerting.model import TEST, Alert
from jobpulse.sidecar.alerting.repository import (
    DROPPED,
    FAILED,
    SENDING,
    SENT,
    AlertRepository,
    Attempt,
    claim_key,
)
from jobpulse.sidecar.tasks import BackgroundTasks

log = logging.getLogger("jobpulse.sidecar.alerting")

RETRYING = "retrying"
MASK = "****"
# Query arguments of webhook URLs that set HTTP headers (+) or query parameters (-): tokens live there.
_SECRET_ARG_PREFIXES = ("+", "-")
_MIN_SECRET_LENGTH = 3


def masked_url(service: Any) -> str:
    """Apprise's privacy URL, with header and parameter values masked too."""
    parts = urlsplit(service.url(privacy=True))
    query = [
        (name, MASK if name.startswith(_SECRET_ARG_PREFIXES) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    # Readable, as Apprise writes it: header (+) and parameter (-) prefixes stay literal.
    return urlunsplit(parts._replace(query=urlencode(query, safe="*+-:")))


def secret_values(url: str, service: Any) -> set[str]:
    """The secret strings in a channel's URL: Apprise's private fields, headers, parameters, password."""
    secrets = {urlsplit(url).password or ""}
    for name, spec in {**service.template_tokens, **service.template_args}.items():
        if spec.get("private"):
            value = getattr(service, spec.get("map_to", name), None)
            secrets.update(value if isinstance(value, list | tuple) else [value])
    secrets.update(value for name, value in parse_qsl(urlsplit(url).query) if name.startswith(_SECRET_ARG_PREFIXES))
    return {value for value in secrets if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH}


class Outgoing(NamedTuple):
    """One notification to send: alerts of one rule, with the exact event each is notified for."""

    kind: str
    items: tuple[tuple[Alert, str], ...]


class Channel:
    """One configured channel: its own Apprise object, queue, workers' counters and secrets."""

    def __init__(self, config: ChannelConfig) -> None:
        assert config.name is not None  # AlertingSettings names every channel
        self.name = config.name
        self.tags = list(config.tags)
        self._apprise = apprise.Apprise()
        self._apprise.add(config.url, tag=config.tags)
        service = self._apprise[0]
        self.masked_url = masked_url(service)
        self._secrets = sorted(secret_values(config.url, service), key=len, reverse=True)
        self.config = config
        self.queue: asyncio.Queue[Outgoing] | None = None
        self.workers = BackgroundTasks()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.claimed_elsewhere = 0
        self.last_error: str | None = None

    def take_counters(self, previous: Channel) -> None:
        """Carry the counters of the channel this one replaces (same name, new URL, tags or workers)."""
        self.sent, self.failed, self.dropped = previous.sent, previous.failed, previous.dropped
        self.claimed_elsewhere, self.last_error = previous.claimed_elsewhere, previous.last_error

    def matches(self, tags: Sequence[str]) -> bool:
        """Whether Apprise's tag matching selects this channel for ``tags`` ("all" selects every one)."""
        return next(iter(self._apprise.find(tag=list(tags))), None) is not None

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    @property
    def queued(self) -> int:
        return self.queue.qsize() if self.queue is not None else 0

    async def send(self, message: Message, timeout_s: float) -> str | None:
        """Send once; None on success, else why it failed (secrets scrubbed)."""
        try:
            result = await self._apprise.async_notify(
                body=message.body,
                title=message.title,
                notify_type=message.notify_type,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=timeout_s,
            )
        except Exception as error:
            return self.scrub(f"{type(error).__name__}: {error}")
        if result:
            return None
        reasons = [entry.message for service in result for entry in service.logs()]
        reasons += [entry.message for entry in result.call_logs()]
        return self.scrub("; ".join(reasons) or f"delivery {result.status.name.lower()}")


class _ScrubSecrets(logging.Filter):
    """Takes channel secrets out of Apprise's own log records."""

    def __init__(self, channels: Iterable[Channel]) -> None:
        super().__init__()
        self.channels = list(channels)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for channel in self.channels:
            message = channel.scrub(message)
        record.msg, record.args = message, None
        return True


class ChannelTestResult(msgspec.Struct):
    """The outcome of a test notification on one channel."""

    channel: str
    masked_url: str
    result: str
    attempts: int
    error: str | None


class Delivery:
    """Channel queues and workers; see the module docstring."""

    def __init__(
        self,
        channels: Sequence[Channel],
        settings: DeliverySettings,
        repository: AlertRepository,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.channels = list(channels)
        self.settings = settings
        self.repository = repository
        self.clock_ns = clock_ns
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        # Told which alerts a channel accepted (the engine keeps last-notified times in memory).
        self.on_sent: Callable[[list[Alert], int], None] | None = None
        self._started = False
        self._retiring: set[asyncio.Task[None]] = set()
        self._log_filter = _ScrubSecrets(self.channels)

    def channels_for(self, tags: Sequence[str]) -> list[Channel]:
        return [channel for channel in self.channels if channel.matches(tags)]

    def find(self, name_or_tag: str) -> list[Channel]:
        """Channels named ``name_or_tag``, else those carrying it as a tag."""
        named = [channel for channel in self.channels if channel.name == name_or_tag]
        return named or self.channels_for([name_or_tag])

    @property
    def running(self) -> bool:
        return bool(self.channels) and all(channel.workers.running for channel in self.channels)

    def reconfigure(self, configs: Sequence[ChannelConfig], settings: DeliverySettings) -> None:
        """Take new channels and delivery settings; see the module docstring."""
        workers_changed = settings.workers_per_channel != self.settings.workers_per_channel
        self.settings = settings
        previous = {channel.name: channel for channel in self.channels}
        channels = []
        for config in configs:
            old = previous.get(config.name or "")
            if old is not None and old.config == config and not workers_changed:
                channels.append(old)
                continue
            channel = Channel(config)
            if old is not None:
                channel.take_counters(old)
            channels.append(channel)
            if self._started:
                self._start(channel)
        retired = [channel for channel in self.channels if channel not in channels]
        self.channels = channels
        self._log_filter.channels = [*channels, *retired]
        for channel in retired:
            if self._started:
                task = asyncio.get_running_loop().create_task(self._retire(channel))
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)

    async def _retire(self, channel: Channel, drain_timeout_s: float = 5.0) -> None:
        """Let a channel that was replaced or removed send what it has queued, then stop its workers."""
        try:
            if channel.queue is not None and channel.queued:
                await asyncio.wait_for(channel.queue.join(), drain_timeout_s)
        except TimeoutError:
            log.warning("alert channel %s was replaced with %d notification(s) unsent", channel.name, channel.queued)
        finally:
            await channel.workers.cancel()
            self._log_filter.channels = [known for known in self._log_filter.channels if known is not channel]

    # ---- queueing ------------------------------------------------------------------------------

    def submit(self, channel: Channel, outgoing: Outgoing) -> bool:
        """Queue ``outgoing`` for ``channel``; False (and a recorded drop) when its queue is full."""
        assert channel.queue is not None, "delivery is not started"
        if channel.queued < self.settings.queue_size:
            channel.queue.put_nowait(outgoing)
            return True
        channel.dropped += 1
        error = f"queue full: {channel.queued} notifications waiting"
        self.repository.save_dropped(self._rows(channel, outgoing.items, uuid.uuid4().hex, DROPPED, error, claim=False))
        if channel.dropped == 1 or channel.dropped % 100 == 0:
            log.warning("alert channel %s: %s; %d notification(s) dropped so far", channel.name, error, channel.dropped)
        return False

    async def start(self) -> None:
        logging.getLogger("apprise").addFilter(self._log_filter)
        self._started = True
        for channel in self.channels:
            self._start(channel)

    def _start(self, channel: Channel) -> None:
        channel.queue = asyncio.Queue()
        for index in range(self.settings.workers_per_channel):
            channel.workers.spawn(self._work(channel), f"alert-channel-{channel.name}-{index}")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Give queued notifications up to ``drain_timeout_s`` to go out, then stop the workers."""
        queues = [channel.queue.join() for channel in self.channels if channel.queue is not None and channel.queued]
        if queues:
            try:
                await asyncio.wait_for(asyncio.gather(*queues), drain_timeout_s)
            except TimeoutError:
                log.warning("stopping with %d alert notification(s) unsent", sum(c.queued for c in self.channels))
        self._started = False
        for channel in self.channels:
            await channel.workers.cancel()
        for task in list(self._retiring):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        logging.getLogger("apprise").removeFilter(self._log_filter)

    async def _work(self, channel: Channel) -> None:
        assert channel.queue is not None
        while True:
            outgoing = await channel.queue.get()
            try:
                await self._deliver(channel, outgoing)
            except Exception:
                log.exception("alert channel %s: delivery crashed", channel.name)
            finally:
                channel.queue.task_done()

    # ---- sending -------------------------------------------------------------------------------

    def backoff_s(self, attempt: int) -> float:
        """Delay after failed attempt ``attempt`` (1-based): exponential, capped, with "equal jitter"
        (half fixed, half random), so delays still grow while replicas and channels spread out."""
        delay = min(self.settings.max_delay_s, self.settings.base_delay_s * 2 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    def _rows(
        self,
        channel: Channel,
        items: Iterable[tuple[Alert, str]],
        delivery_id: str,
        result: str,
        error: str | None = None,
        *,
        claim: bool = True,
    ) -> list[dict[str, Any]]:
        now_ns = self.clock_ns()
        return [
            {
                "claim": claim_key(alert.key, alert.occurrence, event, channel.name) if claim else None,
                "alert_key": alert.key,
                "occurrence": alert.occurrence,
                "event": event,
                "rule": alert.rule,
                "channel": channel.name,
                "channel_tags": ",".join(channel.tags),
                "masked_url": channel.masked_url,
                "delivery_id": delivery_id,
                "replica": self.replica,
                "attempts": 0,
                "result": result,
                "error": error,
                "created_ns": now_ns,
            }
            for alert, event in items
        ]

    async def _deliver(self, channel: Channel, outgoing: Outgoing) -> None:
        delivery_id = uuid.uuid4().hex
        rows = self._rows(channel, outgoing.items, delivery_id, SENDING)
        for attempt in range(1, self.settings.attempts + 1):
            try:
                won = await self.repository.claim(rows)
                break
            except Exception as error:
                log.warning(
                    "alert channel %s: cannot claim a notification (attempt %d): %s: %s",
                    channel.name,
                    attempt,
                    type(error).__name__,
                    error,
                )
                if attempt == self.settings.attempts:
                    channel.failed += 1
                    channel.last_error = "the database could not record the claim"
                    return
                await asyncio.sleep(self.backoff_s(attempt))
        claimed = [alert for (alert, _), row in zip(outgoing.items, rows, strict=True) if row["claim"] in won]
        if len(claimed) < len(rows):
            channel.claimed_elsewhere += len(rows) - len(claimed)
        if not claimed:
            return
        now_ns = self.clock_ns()
        _, error = await self._attempts(channel, delivery_id, render(outgoing.kind, claimed, now_ns))
        if error is None:
            self.repository.mark_notified(((alert.key, alert.occurrence) for alert in claimed), now_ns)
            if self.on_sent is not None:
                self.on_sent(claimed, now_ns)

    async def _attempts(self, channel: Channel, delivery_id: str, message: Message) -> tuple[int, str | None]:
        """Send with retries, recording each attempt: the attempts made and the last error (None: sent)."""
        error: str | None = None
        attempts = self.settings.attempts
        for attempt in range(1, attempts + 1):
            started_ns, started = self.clock_ns(), time.monotonic()
            error = await channel.send(message, self.settings.timeout_s)
            record = Attempt(attempt, started_ns, self.clock_ns(), time.monotonic() - started, error)
            result = SENT if error is None else FAILED if attempt == attempts else RETRYING
            try:
                await self.repository.record_attempt(delivery_id, record, result)
            except Exception as db_error:
                log.warning("could not record a notification attempt: %s: %s", type(db_error).__name__, db_error)
            if error is None:
                channel.sent += 1
                return attempt, None
            if attempt < attempts:
                await asyncio.sleep(self.backoff_s(attempt))
        channel.failed += 1
        channel.last_error = error
        log.warning("alert channel %s: notification failed after %d attempts: %s", channel.name, attempts, error)
        return attempts, error

    async def send_test(self, channels: Sequence[Channel], title: str, body: str) -> list[ChannelTestResult]:
        """Send a test message to ``channels`` (concurrently, with retries) and report each outcome."""
        message = Message(title, body, apprise.NotifyType.INFO)

        async def one(channel: Channel) -> ChannelTestResult:
            delivery_id = uuid.uuid4().hex
            probe = Alert(
                key="test",
                occurrence=delivery_id,
                rule=TEST,
                source=TEST,
                severity="info",
                state=TEST,
                summary=title,
                description=body,
                details={},
                job_id=None,
                job_name=None,
                job_type=None,
                job_status=None,
                host=None,
                fired_ns=self.clock_ns(),
            )
            await self.repository.claim(self._rows(channel, [(probe, TEST)], delivery_id, SENDING))
            attempts, error = await self._attempts(channel, delivery_id, message)
            return ChannelTestResult(channel.name, channel.masked_url, FAILED if error else SENT, attempts, error)

        return list(await asyncio.gather(*(one(channel) for channel in channels)))
