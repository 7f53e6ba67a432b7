"""The runbooks repository as events see it: a trusted hook index, refreshed without blocking.

* The index of the current snapshot is trusted for ``repo.ttl`` (a ``TTLCache``); while
  it is valid, looking up a hook costs no git call at all.
* When it has expired, one refresh runs in a background thread and every caller shares
  it (single flight), each waiting at most ``repo.refresh_wait`` before using the last
  good snapshot.
* A failed refresh keeps the last good snapshot, backs off exponentially and then tries
  again by itself. Whatever goes wrong, even a bug, ends the attempt: the refresh in
  flight is always cleared, so no caller waits on a refresh that will never finish.
* Forced refreshes (push webhook, ``sync``) coalesce: one running, at most one queued.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import structlog
from cachetools import TTLCache

from hookrunner import metrics
from hookrunner.config import RepoSettings, RepoSource, repo_settings
from hookrunner.logs import redact_url
from hookrunner.repo.gitcli import GitError
from hookrunner.repo.index import HookIndex, build_index
from hookrunner.repo.sync import PublishRefused, SnapshotRefused, Syncer

log = structlog.get_logger("hookrunner.repo")
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


class SyncReport(NamedTuple):
    ok: bool
    commit: str | None
    error: str | None
    at: float
    duration_s: float
    # ok | error (git or disk) | refused (the commit cannot be published) | internal_error
    result: str = "ok"


class Repository:
    def __init__(
        self,
        settings: RepoSource,
        state_dir: Path,
        prepare: Callable[[Path], None] | None = None,
    ) -> None:
        """``settings`` is read at each use: a live source makes a reload reach git too.
        ``prepare`` readies a fetched tree before it is published (hook environments)."""
        self._settings = settings
        self.syncer = Syncer(settings, state_dir / "repo", prepare)
        self.store = self.syncer.store
        self.store.discard_scratch()
        self.last_sync: SyncReport | None = None
        self._cache: TTLCache[str, HookIndex] = TTLCache(maxsize=1, ttl=self.settings.ttl)
        self._lock = threading.Lock()
        self._running: threading.Event | None = None
        self._running_since = 0.0  # monotonic start of the refresh in flight
        self._queued: threading.Event | None = None
        self._failures = 0
        self._retry_after = 0.0
        self._last_good: HookIndex | None = None
        self._retry_timer: threading.Timer | None = None
        self._confirmed_at = time.time()
        metrics.SNAPSHOT_AGE.set_function(lambda: time.time() - self._confirmed_at)

    @property
    def settings(self) -> RepoSettings:
        return repo_settings(self._settings)

    def close(self) -> None:
        """Cancel a scheduled retry; the owner is going away."""
        with self._lock:
            if self._retry_timer is not None:
                self._retry_timer.cancel()
                self._retry_timer = None

    @property
    def git_invocations(self) -> int:
        return self.syncer.git.invocations

    def last_good(self) -> HookIndex | None:
        """The index of the published snapshot, restored from disk after a restart."""
        with self._lock:
            if self._last_good is None:
                snapshot = self.store.current()
                self._last_good = build_index(snapshot) if snapshot else None
            return self._last_good

    def refreshing_since(self) -> float | None:
        """Wall-clock start of the refresh in flight, or ``None`` when none runs."""
        with self._lock:
            if self._running is None:
                return None
            return time.time() - (time.monotonic() - self._running_since)

    def waiting_reason(self) -> str | None:
        """Why there is no snapshot to run hooks on yet; ``None`` once there is one."""
        if self.last_good() is not None:
            return None
        url = redact_url(self.settings.url) or "(repo.url is not set)"
        since, sync = self.refreshing_since(), self.last_sync
        parts = [f"no snapshot of {url} yet"]
        if since is not None:
            parts.append(f"first clone running for {time.time() - since:.0f} s")
        if sync is not None and sync.error:
            parts.append(f"last attempt failed: {' '.join(sync.error.split())}")  # one line
        return "; ".join(parts)

    def index(self) -> HookIndex | None:
        """The hook index to run an event on, waiting at most ``refresh_wait`` for git."""
        with self._lock:
            if self._cache.ttl != self.settings.ttl:  # reloaded: trust the index for the new TTL
                self._cache = TTLCache(maxsize=1, ttl=self.settings.ttl)
            fresh = self._cache.get("index")
        if fresh is not None:
            return fresh
        done = self._start(forced=False)
        if done is not None:
            # The wait is counted from when the refresh began: behind a stalled git server,
            # only the events in its first refresh_wait seconds wait, and none wait twice.
            with self._lock:
                deadline = self._running_since + self.settings.refresh_wait
            done.wait(max(0.0, deadline - time.monotonic()))
        return self.last_good()

    def refresh(self, wait: float | None = None) -> SyncReport | None:
        """Force a refresh (coalesced) and wait for it; ``None`` if ``wait`` ran out."""
        done = self._start(forced=True)
        if done is None or not done.wait(wait):
            return None
        return self.last_sync

    def request_refresh(self) -> None:
        """Force a refresh without waiting for it (a push webhook)."""
        self._start(forced=True)

    def acquire(self) -> HookIndex | None:
        """The index to run on, its snapshot kept on disk until :meth:`release`."""
        for _ in range(3):  # a publish may collect the snapshot between lookup and pin
            index = self.index()
            if index is None:
                return None
            self.store.pin(index.snapshot)
            if index.snapshot.path.is_dir():
                return index
            self.store.unpin(index.snapshot)
        return None

    def release(self, index: HookIndex) -> None:
        self.store.unpin(index.snapshot)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[HookIndex | None]:
        index = self.acquire()
        try:
            yield index
        finally:
            if index is not None:
                self.release(index)

    def _start(self, forced: bool) -> threading.Event | None:
        """Join the running refresh, queue one more, or start one; ``None`` while backing off."""
        with self._lock:
            if self._running is not None:
                if not forced:
                    return self._running
                if self._queued is None:
                    self._queued = threading.Event()
                return self._queued
            if not forced and time.monotonic() < self._retry_after:
                return None
            self._running = done = threading.Event()
            self._running_since = time.monotonic()
        threading.Thread(target=self._refresh_loop, name="git-refresh", daemon=True).start()
        return done

    def _refresh_loop(self) -> None:
        again = True
        while again:
            try:
                self._refresh_once()
            except Exception:  # after the sync itself (cleanup, reporting): log, carry on
                log.exception("git_sync_internal_error")
            with self._lock:
                finished, self._running, self._queued = self._running, self._queued, None
                again = self._running is not None
                self._running_since = time.monotonic()
            if finished is not None:
                finished.set()

    def _refresh_once(self) -> None:
        started = time.monotonic()
        if self.last_good() is None:
            log.info("first_clone", url=redact_url(self.settings.url))
        try:
            snapshot = self.syncer.sync()
            index = build_index(snapshot)
        except (SnapshotRefused, PublishRefused) as exc:
            self._failed(started, "refused", redact_url(str(exc)))
            return
        except (GitError, OSError) as exc:
            self._failed(started, "error", redact_url(str(exc)))
            return
        except Exception as exc:  # a bug must not wedge the sync: end this attempt cleanly
            log.exception("git_sync_internal_error")
            self._failed(started, "internal_error", redact_url(f"internal error: {exc!r}"))
            return
        with self._lock:
            previous = self._last_good
            recovered = self._failures > 0
            self._failures = 0
            self._retry_after = 0.0
            self._cache["index"] = index
            self._last_good = index
            self._confirmed_at = time.time()
        self.close()
        self.store.collect_garbage()  # only now: no lookup can still return the old snapshot
        self._report(
            SyncReport(True, snapshot.commit, None, time.time(), time.monotonic() - started)
        )
        changed = previous is None or previous.snapshot.commit != snapshot.commit
        if changed:
            for rel, error in index.refused.items():
                log.error("hook_refused", commit=snapshot.commit, hook=rel, error=error)
        # A sync that found nothing new is routine (every repo.ttl): debug, not a line
        # in the operator's journal every few seconds.
        report = log.info if changed or recovered else log.debug
        report("git_sync", result="ok", commit=snapshot.commit)

    def _failed(self, started: float, result: str, error: str) -> None:
        """Keep the last good snapshot, back off, and schedule the next attempt."""
        with self._lock:
            self._failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self._failures - 1))
            self._retry_after = time.monotonic() + delay
            if self._retry_timer is not None:
                self._retry_timer.cancel()
            # A weak reference: a repository nobody holds any more (a test's, dry-run's)
            # is not kept alive, nor fetched, by its retry.
            self._retry_timer = threading.Timer(delay, _retry, (weakref.ref(self),))
            self._retry_timer.daemon = True
            self._retry_timer.start()
        report = SyncReport(False, None, error, time.time(), time.monotonic() - started, result)
        self._report(report)
        log.error("git_sync", result=result, error=error, retry_in_s=delay)

    def _report(self, report: SyncReport) -> None:
        self.last_sync = report
        metrics.GIT_SYNCS.labels(result=report.result).inc()
        metrics.GIT_SYNC_DURATION.observe(report.duration_s)


def _retry(reference: weakref.ref[Repository]) -> None:
    repository = reference()
    if repository is not None:
        repository.request_refresh()
