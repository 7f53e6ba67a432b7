"""The journal's contract: every backend must pass every test here (DESIGN §6).

Each test opens journals through ``hosts``: two journals on one storage are two hosts
of a fleet (PostgreSQL), or a daemon and its successor after a restart (SQLite, where
one daemon owns the file).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hookrunner.execution import RunResult
from hookrunner.journal import (
    Delivery,
    HistoryEntry,
    Journal,
    JournalError,
    RequestRecord,
    RunRecord,
    SchemaTooNew,
    Transition,
    open_journal,
)
from hookrunner.journal.postgres.connection import statement_bound

LEASE = 30.0
Hosts = Callable[[], Journal]


@pytest.fixture(params=["sqlite", "postgres"])
def hosts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hosts]:
    """Opens another journal on the test's one storage."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    opened: list[Journal] = []

    def open_host() -> Journal:
        journal = open_journal(tmp_path, url, LEASE, pool=24)
        opened.append(journal)
        return journal

    yield open_host
    for journal in opened:
        journal.close()


def shared(request: Any) -> bool:
    """Whether the test's journals are hosts of a fleet (PostgreSQL) rather than one
    daemon and its successor after a restart (SQLite)."""
    return "postgres" in request.node.name


def result_of(run: RunRecord, status: str = "succeeded", exit_code: int = 0) -> RunResult:
    return RunResult(
        run.run_id, run.event_id, run.hook, "c0ffee", run.attempt, status,  # type: ignore[arg-type]
        exit_code, "out", "err", False, time.time(), 0.5, peak_memory_bytes=1 << 20, cpu_s=0.1,
    )  # fmt: skip


def pending_request(journal: Journal, request_id: str = "req-1", **timers: float) -> None:
    now = time.time()
    record = RequestRecord(request_id, "db-access", "pending", "ana@example.com",
                           {"reason": "deploy"}, 60.0, now, expires_at=now + 600)  # fmt: skip
    journal.create_request(
        record, HistoryEntry("request", "ana@example.com", now, "deploy"), tuple(timers.items())
    )


def test_accept_journals_the_event_and_its_queued_runs(hosts: Hosts) -> None:
    journal = hosts()
    accepted = journal.accept("session-open", {"sid": "s1", "n": [1, 2]}, ["a", "b"])
    assert not accepted.duplicate and len(accepted.run_ids) == 2
    event = journal.event(accepted.event_id)
    assert event is not None and event.body == {"sid": "s1", "n": [1, 2]}
    runs = [journal.run(run_id) for run_id in accepted.run_ids]
    assert [(r.hook, r.state, r.attempt) for r in runs if r] == [
        ("a", "queued", 0),
        ("b", "queued", 0),
    ]
    assert journal.counts() == {"queued": 2}
    assert {r.run_id for r in journal.runs(event_id=accepted.event_id)} == set(accepted.run_ids)
    assert journal.runs(state="dead") == []
    # Another host (or the next start) reads the same.
    assert hosts().event(accepted.event_id) == event


def test_a_repeated_delivery_gets_the_first_answer_and_runs_nothing(hosts: Hosts) -> None:
    journal = hosts()
    first = journal.accept("session-open", {}, ["h"], Delivery("session", "K1"))
    again = journal.accept("session-open", {"other": True}, ["h"], Delivery("session", "K1"))
    assert again.duplicate and (again.event_id, again.run_ids) == (first.event_id, first.run_ids)
    # Each source has its own namespace.
    other = journal.accept("session-open", {}, ["h"], Delivery("hoop_webhook", "K1"))
    assert not other.duplicate
    assert journal.counts() == {"queued": 2}
    assert journal.remember_delivery(Delivery("git_webhook", "K1"))
    assert not hosts().remember_delivery(Delivery("git_webhook", "K1"))


def test_dedup_under_concurrency_accepts_exactly_once(hosts: Hosts) -> None:
    journals = [hosts(), hosts()]
    start = threading.Barrier(16)

    def deliver(n: int) -> Any:
        start.wait()
        return journals[n % 2].accept("session-open", {"n": n}, ["h"], Delivery("session", "D"))

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(deliver, range(16)))
    assert sum(not answer.duplicate for answer in answers) == 1
    assert len({(answer.event_id, tuple(answer.run_ids)) for answer in answers}) == 1
    assert journals[0].counts() == {"queued": 1}


def test_claim_takes_due_runs_oldest_first_and_each_once(hosts: Hosts) -> None:
    a, b = hosts(), hosts()
    ids = [a.accept("session-open", {"n": n}, ["h"]).run_ids[0] for n in range(30)]
    first = a.claim_due()
    assert first is not None and first.run_id == ids[0]
    assert (first.state, first.attempt) == ("running", 1)

    def drain(journal: Journal) -> list[str]:
        claimed = []
        while (run := journal.claim_due()) is not None:
            claimed.append(run.run_id)
        return claimed

    with ThreadPoolExecutor(4) as pool:
        lists = list(pool.map(drain, [a, b, a, b]))
    claimed = [run_id for found in lists for run_id in found]
    assert sorted(claimed) == sorted(ids[1:])  # every run once, none twice
    assert a.claim_due() is None and a.next_due_at() is None


def test_finish_records_the_attempt_once(hosts: Hosts) -> None:
    journal = hosts()
    journal.accept("session-open", {}, ["h"])
    run = journal.claim_due()
    assert run is not None
    ended = journal.finish(result_of(run), "succeeded")
    done = journal.run(run.run_id)
    assert done is not None and done.final and ended == done  # finish hands back the run
    assert (done.state, done.outcome, done.exit_code, done.stdout) == (
        "succeeded", "succeeded", 0, "out",
    )  # fmt: skip
    assert (done.commit, done.cpu_s, done.peak_memory_bytes) == ("c0ffee", 0.1, 1 << 20)
    # The same attempt cannot end twice.
    assert not journal.finish(result_of(run, "failed", 1), "failed")
    assert journal.run(run.run_id) == done
    assert done.to_dict()["status"] == "succeeded" and "state" not in done.to_dict()


def test_a_retried_run_waits_for_its_backoff(hosts: Hosts) -> None:
    journal = hosts()
    journal.accept("session-open", {}, ["h"])
    run = journal.claim_due()
    assert run is not None
    later = time.time() + 100
    assert journal.finish(result_of(run, "tempfail", 75), "queued", later)
    assert journal.claim_due() is None
    assert journal.next_due_at() == pytest.approx(later)
    again = hosts().claim_due(now=later + 1)
    assert again is not None and (again.run_id, again.attempt) == (run.run_id, 2)
    assert again.outcome == "tempfail"


def test_a_run_cut_short_by_a_crash_is_found_and_retried(hosts: Hosts, request: Any) -> None:
    crashed = hosts()
    crashed.accept("session-open", {}, ["h"])
    run = crashed.claim_due()
    assert run is not None
    survivor = hosts()
    # While the lease holds and is renewed, a fleet's other host leaves the run alone.
    crashed.renew_runs([run.run_id])
    if shared(request):
        assert survivor.interrupted_runs() == []
    lapsed = time.time() + LEASE + 1
    found = survivor.interrupted_runs(now=lapsed)
    assert [r.run_id for r in found] == [run.run_id]
    cut = RunResult(run.run_id, run.event_id, "h", "", run.attempt, "interrupted", None,
                    "", "", False, time.time(), 0.0)  # fmt: skip
    assert survivor.finish(cut, "queued", 0.0)
    # The crashed host's late answer for the same attempt is refused.
    assert not crashed.finish(result_of(run), "succeeded")
    retried = survivor.claim_due()
    assert retried is not None and (retried.run_id, retried.attempt) == (run.run_id, 2)
    assert survivor.interrupted_runs(now=time.time()) == []


def test_flow_runs_are_recorded_finished(hosts: Hosts) -> None:
    journal = hosts()
    run = RunRecord("fr1", "fe1", "flows/x/impl.py", "running", None, 1, 0.0, None, None,
                    "", "", False, None, None, 0.0)  # fmt: skip
    journal.record_finished_runs("flow.request", {"flow": "x"}, [result_of(run, "failed", 2)])
    journal.record_finished_runs("flow.request", {"flow": "x"}, [])
    stored = journal.run("fr1")
    assert stored is not None and (stored.state, stored.outcome) == ("failed", "failed")
    event = journal.event("fe1")
    assert event is not None and event.kind == "flow.request"


def test_requests_keep_their_fields_history_and_delivery_key(hosts: Hosts) -> None:
    journal = hosts()
    now = time.time()
    record = RequestRecord("req-1", "db-access", "pending", "ana@example.com",
                           {"reason": "x", "n": 2}, 60.0, now, expires_at=now + 600)  # fmt: skip
    entry = HistoryEntry("request", "ana@example.com", now, "x")
    journal.create_request(record, entry, (("expire", now + 600),), dedup_key="flow:K")
    assert hosts().requested("flow:K") == "req-1" and journal.requested("flow:other") is None
    journal.note("req-1", HistoryEntry("approve", "bob@example.com", now + 1, "no"), "refused")
    stored = journal.request("req-1")
    assert stored is not None
    assert (stored.fields, stored.error, stored.state) == (
        {"reason": "x", "n": 2},
        "refused",
        "pending",
    )
    assert [(h.event, h.transition) for h in stored.history] == [
        ("request", True),
        ("approve", False),
    ]
    assert [r.request_id for r in journal.requests(state="pending", flow="db-access")] == ["req-1"]
    assert journal.requests(state="approved") == []
    assert journal.request("missing") is None


def test_transitions_are_compare_and_swap_under_concurrency(hosts: Hosts) -> None:
    journals = [hosts(), hosts()]
    pending_request(journals[0], expire=time.time() + 600)
    start = threading.Barrier(20)

    def act(n: int) -> bool:
        to_state = "approved" if n % 2 else "denied"
        change = Transition(("pending",), to_state, HistoryEntry(to_state, f"u{n}@x", time.time()),
                            {"expires_at": None}, cancel_timers=("expire",))  # fmt: skip
        start.wait()
        return journals[n % 2].transition("req-1", change)

    with ThreadPoolExecutor(20) as pool:
        won = list(pool.map(act, range(20)))
    assert won.count(True) == 1
    stored = journals[1].request("req-1")
    assert stored is not None and stored.state in ("approved", "denied")
    assert [h.event for h in stored.history] == ["request", stored.state]
    assert journals[0].claim_timers(time.time() + 10_000) == []  # the expiry went with it
    with pytest.raises(ValueError, match="cannot update"):
        journals[0].transition(
            "req-1", Transition(("approved",), "x", stored.history[0], {"flow": "y"})
        )


def test_a_due_timer_is_leased_to_one_host_until_it_lapses(hosts: Hosts, request: Any) -> None:
    a, b = hosts(), hosts()
    now = time.time()
    pending_request(a, expire=now + 5)
    assert a.claim_timers(now) == [] and a.next_timer_at() == pytest.approx(now + 5)
    (timer,) = a.claim_timers(now + 5)
    assert (timer.kind, timer.request_id, timer.attempt) == ("expire", "req-1", 0)
    assert a.timer_pending(timer.timer_id)
    elsewhere = b.claim_timers(now + 5)
    if shared(request):
        assert elsewhere == []  # a holds it
        a.renew_timers([timer.timer_id])
        (taken,) = b.claim_timers(time.time() + LEASE + 1)  # a died: its lease lapsed
    else:
        (taken,) = elsewhere  # b is a's successor after a restart: a's work is b's at once
    assert taken.timer_id == timer.timer_id
    assert b.claim_timers(now + 5) == []  # a host's own lease holds
    b.release_timer(timer.timer_id)
    assert b.retry_timer("req-1", "expire", now + 50) == 1
    (retried,) = a.claim_timers(now + 50)
    assert (retried.timer_id, retried.attempt) == (timer.timer_id, 1)
    a.finish_timers("req-1", ("expire",))
    assert not b.timer_pending(timer.timer_id) and b.claim_timers(now + 10_000) == []
    assert b.retry_timer("req-1", "deescalate", now + 60) == 1  # created when missing


def test_a_lock_is_held_for_the_fleet(hosts: Hosts, request: Any) -> None:
    a, b = hosts(), hosts()
    held = a.try_lock("req-1")
    assert held is not None
    other = b.try_lock("req-1")
    if shared(request):
        assert other is None  # another host waits
        other_key = b.try_lock("req-2")
        assert other_key is not None
        other_key.release()
    elif other is not None:  # SQLite: one daemon per journal, nothing to wait for
        other.release()
    held.release()
    again = b.try_lock("req-1")
    assert again is not None
    again.release()


def test_a_remembered_delivery_is_found_by_any_host(hosts: Hosts) -> None:
    first, second = hosts(), hosts()
    marker = Delivery("session", "plain-exec:s1")
    assert not second.delivered(marker)
    assert first.remember_delivery(marker)
    assert second.delivered(marker)
    assert not second.delivered(Delivery("hoop_webhook", "plain-exec:s1"))


def test_a_schema_newer_than_the_code_refuses_to_open(
    hosts: Hosts, tmp_path: Path, request: Any
) -> None:
    journal = hosts()
    version = journal.schema_version
    assert version >= 1
    journal.close()
    if shared(request):
        url = request.getfixturevalue("postgres_url")
        open_journal(tmp_path, url).close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE schema_version SET version = version + 1")
    else:
        url = ""
        with sqlite3.connect(tmp_path / "hookrunner.db") as db:
            db.execute(f"PRAGMA user_version = {version + 1}")
    with pytest.raises(SchemaTooNew, match=f"version {version + 1} is newer"):
        open_journal(tmp_path, url)


def test_a_succeeded_replay_resolves_the_dead_runs_it_replays(hosts: Hosts) -> None:
    journal = hosts()
    original = journal.accept("session-open", {}, ["h"]).run_ids[0]
    run = journal.claim_due()
    assert run is not None and journal.finish(result_of(run, "failed", 1), "dead")
    first = journal.accept("session-open", {}, ["h"], replay_of=original).run_ids[0]
    replay = journal.claim_due()
    assert replay is not None and journal.finish(result_of(replay, "failed", 1), "dead")
    second = journal.accept("session-open", {}, ["h"], replay_of=first).run_ids[0]
    again = journal.claim_due()
    assert again is not None and again.replay_of == first
    assert journal.finish(result_of(again), "succeeded")
    states = {run_id: journal.run(run_id) for run_id in (original, first, second)}
    assert {run_id: r.state for run_id, r in states.items() if r} == {
        original: "replayed", first: "replayed", second: "succeeded",
    }  # fmt: skip
    assert journal.runs(state="dead") == []


def test_a_due_slack_message_is_leased_to_one_host(hosts: Hosts, request: Any) -> None:
    a, b = hosts(), hosts()
    pending_request(a)
    now = time.time()
    a.add_messages("req-1", [("announce", "slack", {"destination": {"name": "#ops"}})], now)
    (message,) = a.due_messages(now)
    assert message.target == {"destination": {"name": "#ops"}} and message.ts is None
    assert a.due_messages(now) == [] and a.next_message_at() is None  # a is posting it
    elsewhere = b.due_messages(now)
    if shared(request):
        assert elsewhere == []
        (taken,) = b.due_messages(now + LEASE + 1)  # a died mid-post: b posts it
    else:
        (taken,) = elsewhere  # b is a's successor after a restart
    b.message_sent(taken.message_id, "C1", "1.0001", "pending", taken.due_at or 0)
    assert a.due_messages(now + 10 * LEASE) == []
    assert [(m.channel, m.ts) for m in a.messages("req-1")] == [("C1", "1.0001")]
    assert a.touch_messages("req-1", now + 1) == 1
    (again,) = b.due_messages(now + 1)
    b.message_failed(again.message_id, "HTTP 503", now + 5)
    assert a.next_message_at() == pytest.approx(now + 5)


@pytest.mark.timeout(60)
def test_postgres_a_call_stuck_behind_a_lock_held_elsewhere_fails_within_the_bound(
    postgres_url: str, tmp_path: Path
) -> None:
    """A row lock another session holds: the journal's call ends as a JournalError (the
    caller retries) at the statement bound, instead of hanging the worker."""
    lease = 3.0
    journal = open_journal(tmp_path, postgres_url, lease)
    try:
        journal.accept("session-open", {}, ["h"])
        run = journal.claim_due()
        assert run is not None
        with psycopg.connect(postgres_url) as holder:  # its transaction holds the row
            holder.execute("SELECT id FROM runs WHERE id = %s FOR UPDATE", (run.run_id,))
            started = time.monotonic()
            with pytest.raises(JournalError, match="timeout"):
                journal.finish(result_of(run), "succeeded")
            waited = time.monotonic() - started
        assert journal.finish(result_of(run), "succeeded")  # the lock gone, the retry works
    finally:
        journal.close()
    bound = statement_bound(lease)
    assert bound <= waited < bound + 10


def test_sqlite_syncs_each_accepted_event_and_not_the_bookkeeping_of_runs(tmp_path: Path) -> None:
    """An accepted event is on disk before the 202; claiming and finishing a run are made
    durable by the next synced commit (a crash before it runs the attempt again)."""
    journal = open_journal(tmp_path, "", LEASE)
    connection = journal._db._db  # type: ignore[attr-defined]
    modes = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

    def commits(operation: Callable[[], object]) -> list[str]:
        """The ``synchronous`` mode each commit of ``operation`` ran with."""
        mode = modes[connection.execute("PRAGMA synchronous").fetchone()[0]]
        statements: list[str] = []
        connection.set_trace_callback(statements.append)
        try:
            operation()
        finally:
            connection.set_trace_callback(None)
        seen = []
        for statement in statements:
            if statement.upper().startswith("PRAGMA SYNCHRONOUS="):
                mode = statement.split("=", 1)[1].upper()
            elif statement.upper() == "COMMIT":
                seen.append(mode)
        return seen

    try:
        assert commits(lambda: journal.accept("session-open", {}, ["h"])) == ["FULL"]
        claimed: list[RunRecord | None] = []
        assert commits(lambda: claimed.append(journal.claim_due())) == ["NORMAL"]
        run = claimed[0]
        assert run is not None
        assert commits(lambda: journal.renew_runs([run.run_id])) == ["NORMAL"]
        assert commits(lambda: journal.finish(result_of(run), "succeeded")) == ["NORMAL"]
        assert commits(lambda: journal.accept("session-close", {}, ["h"])) == ["FULL"]
        assert commits(lambda: pending_request(journal)) == ["FULL"]
    finally:
        journal.close()
