"""The Slack outbox: announcements and their updates, journaled, delivered in the
background with retries.

The engine's transitions only write to the journal (a message is due); this worker
renders each due message from the request as it is now and posts or updates it. So a
decision never waits for Slack, a Slack outage loses nothing (the messages stay due and
are retried with backoff), and several quick transitions become one update showing the
latest state. A message Slack refuses for good (no such channel, say) is retried
``retry.max_attempts`` times, then given up and noted on the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog

from hookrunner import metrics
from hookrunner.approvals.blocks import request_message, requester_message
from hookrunner.approvals.clients import SlackClients
from hookrunner.config import SettingsView
from hookrunner.flows.notices import Announcement
from hookrunner.integrations.errors import IntegrationError
from hookrunner.journal import HistoryEntry, Journal, JournalError, MessageRecord, RequestRecord

log = structlog.get_logger("hookrunner.approvals")
MAX_SLEEP = 5.0  # a missed wake-up costs at most this
MAX_BACKOFF = 300.0
BATCH = 20


def _transient(error: IntegrationError) -> bool:
    """Slack is down or busy (5xx, 429, no connection): worth retrying without limit.
    An answer that names what is wrong (``channel_not_found``) is not."""
    if error.status is None:
        return not error.code
    return error.status == 429 or error.status >= 500


class SlackOutbox:
    """The engine's :class:`~hookrunner.flows.notices.Notifier` for Slack, and the worker
    that delivers what it journals."""

    def __init__(self, journal: Journal, clients: SlackClients, settings: SettingsView) -> None:
        self.journal = journal
        self.clients = clients
        self.settings = settings
        self.wake = asyncio.Event()

    # -- the Notifier protocol ----------------------------------------------------------

    def delivers(self, integrations: list[str]) -> bool:
        return self.clients.for_flow(integrations) is not None

    async def opened(self, record: RequestRecord, announcement: Announcement) -> None:
        table = self.clients.for_flow(announcement.integrations)
        if table is None:
            return
        messages: list[tuple[str, str, dict[str, Any]]] = [
            ("announce", table, {"destination": d}) for d in announcement.destinations
        ]
        messages.append(("requester", table, {"allow_revoke": announcement.allow_revoke}))
        await self._journal(self.journal.add_messages, record.request_id, messages, time.time())

    async def transitioned(self, record: RequestRecord) -> None:
        await self._journal(self.journal.touch_messages, record.request_id, time.time())

    async def _journal(self, write: Callable[..., object], *args: Any) -> None:
        """Write, then wake the worker. A failed write must not undo a decision already
        committed: it is logged, and the start-up sweep finds the stale messages."""
        try:
            await asyncio.to_thread(write, *args)
        except JournalError as exc:
            log.error("slack_outbox_write_failed", error=str(exc))
        self.wake.set()

    # -- the worker ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            stale = await asyncio.to_thread(self.journal.stale_messages, time.time())
        except JournalError as exc:
            log.error("journal_error", error=str(exc))
            stale = 0
        if stale:
            log.info("slack_messages_stale", count=stale)
        while True:
            self.wake.clear()
            due: list[MessageRecord] = []
            try:
                due = await asyncio.to_thread(self.journal.due_messages, time.time(), BATCH)
                await asyncio.gather(*(self._deliver(message) for message in due))
                next_at = await asyncio.to_thread(self.journal.next_message_at)
            except JournalError as exc:
                log.error("journal_error", error=str(exc))
                next_at = None
            if len(due) == BATCH:
                continue
            delay = MAX_SLEEP if next_at is None else min(MAX_SLEEP, next_at - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), max(0.0, delay))

    async def _deliver(self, message: MessageRecord) -> None:
        record = await asyncio.to_thread(self.journal.request, message.request_id)
        if record is None:
            await asyncio.to_thread(self.journal.message_failed, message.message_id, "gone", None)
            return
        try:
            where = await asyncio.to_thread(self._send, message, record)
        except IntegrationError as exc:
            await self._failed(message, record, exc)
            return
        except Exception as exc:  # a bug or an odd answer must not stop the other messages
            log.exception("slack_message_error", request_id=record.request_id)
            error = IntegrationError(f"{type(exc).__name__}: {exc}", code="internal_error")
            await self._failed(message, record, error)
            return
        channel, ts = where if where is not None else (None, None)
        await asyncio.to_thread(
            self.journal.message_sent, message.message_id, channel, ts, record.state,
            message.due_at or 0.0,
        )  # fmt: skip
        if where is not None:
            metrics.SLACK_MESSAGES.labels(result="updated" if message.ts else "posted").inc()
            log.info("slack_message", request_id=record.request_id, kind=message.kind,
                     state=record.state, updated=message.ts is not None)  # fmt: skip

    def _send(self, message: MessageRecord, record: RequestRecord) -> tuple[str, str] | None:
        """Post or update ``message`` to show ``record``; where it is, or ``None`` when
        there is nothing to say yet (the requester hears of the outcome, not the ask)."""
        client = self.clients.client(message.integration)
        if message.kind == "requester":
            if message.ts is None and record.state == "pending":
                return None
            text, blocks = requester_message(record, bool(message.target.get("allow_revoke")))
            destination: dict[str, Any] = {"type": "slack_user", "email": record.requester}
        else:
            text, blocks = request_message(record)
            destination = message.target["destination"]
        if message.channel is not None and message.ts is not None:
            sent = client.update_message(message.channel, message.ts, text, blocks)
        else:
            sent = client.send_message(destination, text, blocks)
        return sent["channel"], sent["ts"]

    async def _failed(
        self, message: MessageRecord, record: RequestRecord, error: IntegrationError
    ) -> None:
        retry = self.settings.retry
        attempt = message.attempt + 1
        transient = _transient(error)
        log.warning("slack_message_failed", request_id=record.request_id, kind=message.kind,
                    attempt=attempt, error=str(error), transient=transient)  # fmt: skip
        if transient or attempt < retry.max_attempts:
            delay = min(retry.delay_before(attempt + 1), MAX_BACKOFF)
            await asyncio.to_thread(
                self.journal.message_failed, message.message_id, str(error), time.time() + delay
            )
            metrics.SLACK_MESSAGES.labels(result="retried").inc()
            return
        await asyncio.to_thread(self.journal.message_failed, message.message_id, str(error), None)
        metrics.SLACK_MESSAGES.labels(result="given_up").inc()
        what = "the requester's message" if message.kind == "requester" else "an announcement"
        entry = HistoryEntry("notify", None, time.time(), f"{what} was not delivered: {error}")
        await asyncio.to_thread(self.journal.note, record.request_id, entry)
