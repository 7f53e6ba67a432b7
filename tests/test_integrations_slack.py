"""The Slack client against a local fake of the Web API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from hookrunner.integrations.errors import SlackError, SymIntegrationError
from hookrunner.integrations.http import CallPolicy
from hookrunner.integrations.slack import SlackClient
from hookrunner_dev.fakes.base import FakeResponse, settings_for
from hookrunner_dev.fakes.slack import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.add_user("U01", "dev@acme.io", "dev")
    fake.add_user("U02", "boss@acme.io", "boss")
    fake.add_user("U03", "ops@acme.io", "ops")
    fake.add_user("U04", "gone@acme.io", "gone", deleted=True)
    fake.add_user("B01", "", "deploybot", is_bot=True)
    fake.add_channel("C01", "ops", ["U01", "U02", "U03", "B01"])
    fake.add_channel("C02", "general", ["U01"])
    fake.add_usergroup("S01", "oncall", ["U02", "U03"])
    yield fake.start()
    fake.stop()


@pytest.fixture
def slack(fake: FakeSlack, tmp_path: Path) -> Iterator[SlackClient]:
    client = SlackClient("slack", settings_for(fake, tmp_path, "slack"), CallPolicy(backoff=0.01))
    yield client
    client.close()


def test_people_by_email_id_and_name(slack: SlackClient, fake: FakeSlack) -> None:
    assert slack.get_user_info("boss@acme.io")["id"] == "U02"
    assert slack.get_user_info("U03")["profile"]["email"] == "ops@acme.io"
    assert slack.get_user_info("@Ops")["id"] == "U03"
    assert slack.mention("dev@acme.io") == "<@U01>"
    with pytest.raises(SlackError) as missing:
        slack.get_user_info("nobody@acme.io")
    assert missing.value.code == "users_not_found"
    assert missing.value.sdk_exception == "SlackError"
    sent = fake.calls("/users.lookupByEmail")[0]
    assert sent.headers["authorization"] == f"Bearer {fake.token}"


def test_list_users_pages_through_every_cursor(slack: SlackClient, fake: FakeSlack) -> None:
    active = [u["id"] for u in slack.list_users()]
    assert active == ["U01", "U02", "U03", "B01"]
    assert "U04" in [u["id"] for u in slack.list_users(active_only=False)]
    pages = fake.calls("/users.list")
    assert len(pages) == 3  # five users, two a page
    assert [p.query.get("cursor") is None for p in pages] == [True, False, False]


def test_channel_members_by_name_and_id_skip_bots(slack: SlackClient) -> None:
    by_name = slack.users_in_channel("#ops")
    assert [p["email"] for p in by_name] == ["dev@acme.io", "boss@acme.io", "ops@acme.io"]
    assert by_name[0] == {"email": "dev@acme.io", "id": "U01", "name": ""}
    assert [p["email"] for p in slack.users_in_channel("C02")] == ["dev@acme.io"]
    with pytest.raises(SlackError) as missing:
        slack.users_in_channel("#nope")
    assert missing.value.code == "channel_not_found"


def test_group_membership_by_id_or_handle(slack: SlackClient) -> None:
    assert slack.is_user_in_group("boss@acme.io", "S01")
    assert slack.is_user_in_group("ops@acme.io", "oncall")
    assert not slack.is_user_in_group("dev@acme.io", "S01")
    with pytest.raises(SlackError):
        slack.is_user_in_group("dev@acme.io", "S99")


def test_destinations_resolve_to_emails_without_the_requester(slack: SlackClient) -> None:
    channel = {"type": "slack_channel", "name": "#ops", "allow_self": False}
    assert slack.resolve_destination(channel, "dev@acme.io") == ["boss@acme.io", "ops@acme.io"]
    with_self = {**channel, "allow_self": True}
    assert "dev@acme.io" in slack.resolve_destination(with_self, "dev@acme.io")
    user = {"type": "slack_user", "email": "boss@acme.io"}
    assert slack.resolve_destination(user, "dev@acme.io") == ["boss@acme.io"]
    assert slack.resolve_destination({"type": "slack_user", "id": "U03"}) == ["ops@acme.io"]
    group = {"type": "slack_group", "handle": "oncall"}
    assert slack.resolve_destination(group, "ops@acme.io") == ["boss@acme.io"]
    assert slack.resolve_destination({"type": "slack_channel_id", "id": "C02"}) == ["dev@acme.io"]


def test_fallback_moves_past_a_missing_or_empty_destination(slack: SlackClient) -> None:
    fallback = {
        "type": "fallback",
        "continue_on_delivery_failure": True,
        "destinations": [
            {"type": "slack_channel", "name": "#missing"},
            {"type": "slack_channel", "name": "#general"},  # only the requester: empty
            {"type": "slack_user", "email": "boss@acme.io"},
        ],
    }
    assert slack.resolve_destination(fallback, "dev@acme.io") == ["boss@acme.io"]
    strict = {**fallback, "continue_on_delivery_failure": False}
    with pytest.raises(SlackError):
        slack.resolve_destination(strict, "dev@acme.io")
    with pytest.raises(SlackError) as unknown:
        slack.resolve_destination({"type": "carrier_pigeon"})
    assert unknown.value.code == "invalid_destination"


def test_messages_to_channels_and_dms_threads_updates_ephemerals(
    slack: SlackClient, fake: FakeSlack
) -> None:
    posted = slack.send_message({"type": "slack_channel", "name": "#ops"}, "hello", [{"t": 1}])
    assert posted["channel"] == "C01"
    dm = slack.send_message({"type": "slack_user", "email": "boss@acme.io"}, "psst")
    assert fake.channels[dm["channel"]]["members"] == ["U02"]
    slack.send_thread_message(posted["channel"], posted["ts"], "in thread")
    slack.update_message(posted["channel"], posted["ts"], "approved", [{"t": 2}])
    slack.post_ephemeral("C01", "dev@acme.io", "not yours to approve")
    first, second, third = fake.messages
    assert first == {"channel": "C01", "text": "approved", "blocks": [{"t": 2}], "ts": posted["ts"]}
    assert second["text"] == "psst"
    assert third["thread_ts"] == posted["ts"]
    assert fake.ephemerals == [{"channel": "C01", "text": "not yours to approve", "user": "U01"}]
    fallback = {
        "type": "fallback",
        "destinations": [
            {"type": "slack_channel", "name": "#missing"},
            {"type": "slack_channel", "name": "#general"},
        ],
    }
    assert slack.send_message(fallback, "to whoever")["channel"] == "C02"
    with pytest.raises(SlackError, match="no destination took the message"):
        slack.send_message({**fallback, "destinations": fallback["destinations"][:1]}, "x")
    strict = {**fallback, "continue_on_delivery_failure": False}
    with pytest.raises(SlackError) as stopped:
        slack.send_message(strict, "x")
    assert stopped.value.code == "channel_not_found"
    post = fake.calls("/chat.postMessage")[0]
    assert post.headers["content-type"].startswith("application/json")


def test_reads_are_cached_for_their_ttl_and_writes_forget_them(
    fake: FakeSlack, tmp_path: Path
) -> None:
    policy = CallPolicy(cache_ttl=0.05)
    slack = SlackClient("slack", settings_for(fake, tmp_path, "slack"), policy)
    slack.users_in_channel("C02")
    count = len(fake.requests)
    slack.users_in_channel("C02")
    assert len(fake.requests) == count
    time.sleep(0.2)
    slack.users_in_channel("C02")
    assert len(fake.requests) == 2 * count
    slack.send_message({"type": "slack_channel_id", "id": "C02"}, "hi")
    count = len(fake.requests)
    slack.users_in_channel("C02")
    assert len(fake.requests) > count
    uncached = SlackClient("slack", slack.settings, CallPolicy(cache_ttl=0))
    count = len(fake.requests)
    uncached.get_user_info("U01")
    uncached.get_user_info("U01")
    assert len(fake.requests) == count + 2


def test_a_bad_token_is_an_error_and_never_logged(fake: FakeSlack, tmp_path: Path) -> None:
    wrong = "xoxb-wrong-token-value"
    slack = SlackClient("slack", settings_for(fake, tmp_path, "slack", token=wrong))
    with capture_logs() as logs, pytest.raises(SlackError) as refused:
        slack.get_user_info("dev@acme.io")
    assert refused.value.code == "invalid_auth"
    assert wrong not in str(refused.value)
    assert logs and wrong not in repr(logs)
    assert {"integration", "method", "endpoint", "status", "duration_ms"} <= set(logs[0])
    assert logs[0]["endpoint"] == "users.lookupByEmail"


def test_missing_token_file_names_the_key(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path, "slack")
    Path(settings.token_file).unlink()
    with pytest.raises(SymIntegrationError, match=r"\[integrations.slack\] token_file"):
        SlackClient("slack", settings).list_users()
    empty = settings.model_copy(update={"token_file": ""})
    with pytest.raises(SymIntegrationError, match="token_file is not set"):
        SlackClient("slack", empty).list_users()


def test_rate_limit_waits_for_retry_after(slack: SlackClient, fake: FakeSlack) -> None:
    fake.fail_next(fake.ratelimited(1))
    started = time.monotonic()
    assert slack.get_user_info("dev@acme.io")["id"] == "U01"
    assert time.monotonic() - started >= 0.9
    assert len(fake.calls("/users.lookupByEmail")) == 2


def test_a_long_retry_after_fails_at_once(slack: SlackClient, fake: FakeSlack) -> None:
    fake.fail_next(fake.ratelimited(3600))
    started = time.monotonic()
    with pytest.raises(SlackError) as limited:
        slack.get_user_info("dev@acme.io")
    assert limited.value.status == 429
    assert time.monotonic() - started < 30


def test_server_errors_are_retried_up_to_the_cap(fake: FakeSlack, tmp_path: Path) -> None:
    policy = CallPolicy(max_attempts=3, backoff=0.01)
    slack = SlackClient("slack", settings_for(fake, tmp_path, "slack"), policy)
    fake.fail_next(FakeResponse(503, {"ok": False, "error": "service_unavailable"}), times=2)
    assert slack.get_user_info("dev@acme.io")["id"] == "U01"
    fake.fail_next(FakeResponse(500, {"ok": False, "error": "fatal_error"}), times=5)
    with pytest.raises(SlackError) as failed:
        slack.get_user_info("boss@acme.io")
    assert failed.value.status == 500
    assert len(fake.calls("/users.lookupByEmail")) == 3 + 3


def test_a_cursor_that_never_ends_is_cut_off(slack: SlackClient, fake: FakeSlack) -> None:
    fake.stuck_cursor = True
    with pytest.raises(SlackError) as looping:
        slack.list_users()
    assert looping.value.code == "too_many_pages"


def test_a_hung_write_is_not_sent_twice_but_a_hung_read_is_retried(
    fake: FakeSlack, tmp_path: Path
) -> None:
    policy = CallPolicy(timeout=0.5, backoff=0.01)
    slack = SlackClient("slack", settings_for(fake, tmp_path, "slack"), policy)
    fake.fail_next(FakeResponse(200, {"ok": True, "channel": "C01", "ts": "1"}, delay=2.0))
    with pytest.raises(SlackError, match="ReadTimeout"):
        slack.send_message({"type": "slack_channel_id", "id": "C01"}, "once")
    assert len(fake.calls("/chat.postMessage")) == 1
    fake.fail_next(FakeResponse(200, {"ok": True}, delay=2.0))
    assert slack.get_user_info("U01")["id"] == "U01"
    assert len(fake.calls("/users.info")) == 2
