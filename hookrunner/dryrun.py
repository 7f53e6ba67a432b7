"""``dry-run``: the daemon's payload, engine and executor code on a local tree.

Session hooks run with no journal at all; a flow event runs through the real engine on
a journal in a temporary directory, thrown away afterwards.

A directory is used as it is, uncommitted edits included, so authors can try a hook
before committing. A URL is cloned into a throw-away state dir through the same sync
code the daemon uses.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from hookrunner.config import RepoSettings, Settings
from hookrunner.environments import EnvironmentBuildError, EnvironmentStore, user_store
from hookrunner.flows.definition import load_flow
from hookrunner.flows.engine import Engine
from hookrunner.flows.errors import Conflict, FlowUnavailable, Invalid, Refused
from hookrunner.hook_runtime import HookRuntime
from hookrunner.integrations.service import ChannelUnavailable, channel_dir, serve_integrations
from hookrunner.journal import HistoryEntry, Journal, RequestRecord, RunRecord, open_journal
from hookrunner.repo import GitError, HookIndex, Repository, Snapshot, build_index
from hookrunner.repo.gitcli import GitCli


class SourceError(Exception):
    """The ``--repo`` given cannot be used."""


def _working_tree_commit(directory: Path) -> str:
    # Local calls need no credentials, and none must be written into the author's tree.
    git = GitCli(RepoSettings(), directory)
    try:
        head = git.run("rev-parse", "HEAD", cwd=directory).strip()
        dirty = git.run("status", "--porcelain", cwd=directory).strip()
    except GitError:
        return "working-tree"
    return f"{head}-dirty" if dirty else head


@dataclass(frozen=True)
class Source:
    """A tree to dry-run and what its hooks run with."""

    index: HookIndex
    runtime: HookRuntime


@contextlib.contextmanager
def open_source(repo: str, settings: Settings) -> Iterator[Source]:
    """The hook index of a directory (as it is) or of a URL's branch (freshly cloned),
    with a runtime whose hook environments are built in the user's cache."""
    environments = user_store(settings)
    with _open_tree(repo, settings, environments) as index:
        yield Source(index, HookRuntime(environments=environments))


@contextlib.contextmanager
def _open_tree(
    repo: str, settings: Settings, environments: EnvironmentStore
) -> Iterator[HookIndex]:
    directory = Path(repo)
    if directory.is_dir():
        root = directory / settings.repo.subdir if settings.repo.subdir else directory
        if not root.is_dir():
            raise SourceError(f"{root}: repo.subdir does not exist")
        commit = _working_tree_commit(directory)
        try:
            environments.prepare(root)
        except EnvironmentBuildError as exc:
            raise SourceError(str(exc)) from None
        yield build_index(Snapshot(commit, root.resolve()))
        return
    if "://" not in repo and ":" not in repo:
        raise SourceError(f"{repo}: no such directory")
    with tempfile.TemporaryDirectory(prefix="hookrunner-dry-run-") as state:
        repo_settings = settings.repo.model_copy(update={"url": repo})
        repository = Repository(repo_settings, Path(state), environments.prepare)
        report = repository.refresh()
        repository.close()
        index = repository.last_good()
        if report is None or not report.ok or index is None:
            error = report.error if report else "no answer"
            raise SourceError(f"{repo}: {error}")
        yield index


class _FixedSnapshot:
    """A snapshot source that always hands out the dry-run's one tree."""

    def __init__(self, index: HookIndex) -> None:
        self.index = index

    def acquire(self) -> HookIndex:
        return self.index

    def release(self, index: HookIndex) -> None:
        """Nothing to unpin: the tree is the author's."""


# The state a request must be in for a dry-run of each event, and the timer that fires it.
FLOW_EVENTS = {
    "prompt": (None, None),
    "request": (None, None),
    "approve": ("pending", None),
    "deny": ("pending", None),
    "escalate": ("approved", "escalate"),
    "deescalate": ("escalated", "deescalate"),
    "revoke": ("escalated", None),
    "expire": ("pending", "expire"),
}
DRY_RUN_REQUESTER = "requester@example.com"


class FlowPreview(NamedTuple):
    """What the engine did with one event on a throw-away journal."""

    request: RequestRecord | None
    runs: list[RunRecord]
    refusal: str | None  # ``403 …``, ``409 …``, ``422 …`` or ``503 …``, as the API answers


async def preview_flow(
    source: Source,
    settings: Settings,
    slug: str,
    event: str,
    user: str,
    fields: dict[str, Any],
) -> FlowPreview:
    """Run ``event`` through the real engine on a temporary journal; no runbook grants
    access unless ``event`` is itself escalate, deescalate or revoke."""
    state, timer_kind = FLOW_EVENTS[event]
    index = source.index
    with contextlib.ExitStack() as resources:
        scratch = Path(
            resources.enter_context(tempfile.TemporaryDirectory(prefix="hookrunner-dry-run-"))
        )
        journal = open_journal(scratch)
        resources.callback(journal.close)
        try:  # the daemon's clients, in this process, over a channel of its own
            channel = resources.enter_context(
                serve_integrations(settings.integrations, channel_dir(scratch))
            )
        except ChannelUnavailable as exc:
            return FlowPreview(None, [], f"503 integrations: {exc.message}")
        engine = Engine(
            journal,
            _FixedSnapshot(index),
            settings,
            source.runtime,
            run_runbooks=event in ("escalate", "deescalate", "revoke"),
            channel=channel,
        )
        request_id, refusal = None, None
        try:
            request_id = _seed_request(journal, index, slug, state, timer_kind, fields)
            if event == "prompt":
                await engine.prompt(slug, user, fields)
            elif event == "request":
                request_id = (await engine.request(slug, user, fields, None)).record.request_id
            elif timer_kind is not None:
                timer = journal.claim_timers(time.time() + 1)[0]
                await engine.fire_timer(timer)
            else:
                await engine.act(str(request_id), event, user, fields.get("reason"))
        except Invalid as exc:
            refusal = f"422 {exc}"
        except Refused as exc:
            refusal = f"403 {exc}"
        except Conflict as exc:
            refusal = f"409 {exc}"
        except FlowUnavailable as exc:
            refusal = f"503 {exc}"
        request = journal.request(request_id) if request_id else None
        return FlowPreview(request, list(reversed(journal.runs())), refusal)


def _seed_request(
    journal: Journal,
    index: HookIndex,
    slug: str,
    state: str | None,
    timer_kind: str | None,
    fields: dict[str, Any],
) -> str | None:
    """A request already in ``state``, as if the earlier events had happened."""
    if state is None:
        return None
    flow = load_flow(index, slug)
    now = time.time()
    escalated = state == "escalated"
    record = RequestRecord(
        "dry-run", slug, state, DRY_RUN_REQUESTER, fields, flow.settings.default_duration, now,
        escalated_at=now if escalated else None,
        expires_at=now + flow.settings.default_duration if escalated else None,
    )  # fmt: skip
    timers = ((timer_kind, now),) if timer_kind else ()
    journal.create_request(record, HistoryEntry("request", DRY_RUN_REQUESTER, now), timers)
    return record.request_id
