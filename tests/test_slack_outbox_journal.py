"""The Slack outbox in the journal: what is due, what a send in flight leaves due, and the
start-up sweep that finds messages a crash left behind their request."""

from __future__ import annotations

from pathlib import Path

from hookrunner.journal import HistoryEntry, RequestRecord, Transition
from hookrunner.journal.sqlite import SqliteJournal


def journal_with_request(tmp_path: Path) -> tuple[SqliteJournal, str]:
    journal = SqliteJournal(tmp_path / "journal.db")
    record = RequestRecord("r1", "flow", "pending", "dev@acme.io", {}, 60.0, 100.0)
    journal.create_request(record, HistoryEntry("request", "dev@acme.io", 100.0, None), ())
    destination = {"destination": {"type": "slack_channel", "name": "#ops"}}
    journal.add_messages("r1", [("announce", "slack", destination)], now=100.0)
    return journal, "r1"


def approve(journal: SqliteJournal, request_id: str, at: float) -> None:
    entry = HistoryEntry("approve", "boss@acme.io", at, None)
    assert journal.transition(request_id, Transition(("pending",), "approved", entry, {}))


def test_a_message_is_due_until_sent_and_keeps_where_it_was_posted(tmp_path: Path) -> None:
    journal, request_id = journal_with_request(tmp_path)
    [message] = journal.due_messages(now=100.0)
    assert message.target["destination"]["name"] == "#ops" and message.ts is None
    journal.message_sent(message.message_id, "C1", "1.0001", "pending", message.due_at or 0)
    assert journal.due_messages(now=1e12) == []
    assert journal.next_message_at() is None
    journal.touch_messages(request_id, now=200.0)
    [again] = journal.due_messages(now=200.0)
    assert (again.channel, again.ts) == ("C1", "1.0001")


def test_a_touch_while_a_send_is_in_flight_keeps_the_message_due(tmp_path: Path) -> None:
    journal, request_id = journal_with_request(tmp_path)
    [message] = journal.due_messages(now=100.0)
    journal.touch_messages(request_id, now=150.0)  # the request moved on mid-send
    journal.message_sent(message.message_id, "C1", "1.0001", "pending", message.due_at or 0)
    [still] = journal.due_messages(now=150.0)
    assert still.ts == "1.0001"


def test_failures_push_the_message_back_or_give_it_up(tmp_path: Path) -> None:
    journal, _request_id = journal_with_request(tmp_path)
    [message] = journal.due_messages(now=100.0)
    journal.message_failed(message.message_id, "HTTP 503", due_at=130.0)
    assert journal.due_messages(now=120.0) == []
    [retried] = journal.due_messages(now=130.0)
    assert (retried.attempt, retried.error) == (1, "HTTP 503")
    journal.message_failed(message.message_id, "channel_not_found", due_at=None)
    assert journal.due_messages(now=1e12) == []


def test_the_sweep_finds_messages_behind_their_request(tmp_path: Path) -> None:
    journal, request_id = journal_with_request(tmp_path)
    [message] = journal.due_messages(now=100.0)
    journal.message_sent(message.message_id, "C1", "1.0001", "pending", message.due_at or 0)
    assert journal.stale_messages(now=300.0) == 0
    approve(journal, request_id, 200.0)  # a crash before the outbox heard of it
    assert journal.stale_messages(now=300.0) == 1
    [due] = journal.due_messages(now=300.0)
    assert due.message_id == message.message_id
