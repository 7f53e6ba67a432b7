"""``hookrunner serve``: wiring and lifecycle.

Start: lock the state dir, open the journal, restore the last good snapshot, recover
interrupted runs, listen, then tell systemd ``READY=1`` once a snapshot is there.
SIGHUP reloads the config and refreshes. SIGTERM stops intake, lets running hooks
finish up to the executor timeout, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import structlog
import uvicorn

from hookrunner import systemd
from hookrunner.approvals.clients import SlackClients
from hookrunner.approvals.interactions import SlackInteractions
from hookrunner.approvals.outbox import SlackOutbox
from hookrunner.config import ConfigError, LiveSettings, Settings, load_settings
from hookrunner.dispatch import Dispatcher
from hookrunner.environments import EnvironmentStore
from hookrunner.execution import Isolation, IsolationUnavailable
from hookrunner.flows.engine import Engine
from hookrunner.flows.timers import TimerLoop
from hookrunner.hook_isolation import start_isolation
from hookrunner.hook_runtime import HookRuntime
from hookrunner.integrations.channel import ChannelServer
from hookrunner.integrations.service import ChannelUnavailable, channel_dir, serve_integrations
from hookrunner.journal import Journal, JournalError, open_journal
from hookrunner.logs import REPEATS, configure_logging, report_held_repeats
from hookrunner.repo import Repository
from hookrunner.server.app import create_app
from hookrunner.server.auth import TokenTable
from hookrunner.server.connections import ConnectionGate, connection_budget, gated_protocol
from hookrunner.server.deps import Services

log = structlog.get_logger("hookrunner.daemon")
# The kernel's queue of connections not yet accepted.
BACKLOG = 128
PROGRESS_EVERY = 10.0  # seconds between progress lines while the first clone runs
KEEP_FRESH_EVERY = 1.0  # how often the daemon checks whether repo.ttl has run out


class StartupError(Exception):
    """The daemon cannot start; the message says why in one line."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns the lifecycle."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _open_snapshots_to_hooks(state_dir: Path, repository: Repository) -> None:
    """Let hooks that run as ``executor.user`` reach the snapshots.

    Only the directories above the snapshots open up, and only to pass through (``0711``):
    the journal, the lock and the git credentials keep their private modes, and the
    snapshots themselves are read-only.
    """
    snapshots = repository.store.snapshots
    snapshots.mkdir(parents=True, exist_ok=True)
    for directory in (state_dir, snapshots.parent, snapshots):
        directory.chmod(0o711)


def _probe_isolation(
    settings: Settings,
    config_file: str | None,
    repository: Repository,
    running: Isolation | None = None,
) -> Isolation:
    """Probe account, sandbox and cgroups (at start, and again on reload, keeping the
    ``running`` cgroup tree); :class:`IsolationUnavailable` when a required one is missing.
    Says what hooks are not kept from."""
    shown = [repository.store.snapshots, channel_dir(settings.state.dir)]
    isolation = start_isolation(settings, config_file, shown, running)
    for warning in isolation.warnings:
        log.warning("isolation", warning=warning)
    log.info("isolation", **isolation.status())
    return isolation


def lock_state_dir(state_dir: Path) -> IO[str]:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = (state_dir / "hookrunner.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StartupError(f"{state_dir}: another hookrunner is using this state dir") from None
    return handle


def _listen_sockets(settings: Settings) -> list[socket.socket]:
    sockets = []
    server = settings.server
    try:
        if server.listen:
            host, port = server.host_port
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.create_server((host, port), family=family, backlog=BACKLOG)
            # Accepted sockets inherit this. asyncio would set it itself, but only for
            # sockets created with proto=IPPROTO_TCP, which create_server does not use;
            # without it every answer waited ~40 ms for the client's delayed ACK.
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sockets.append(listener)
        if server.unix_socket:
            path = Path(server.unix_socket)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind(str(path))
            path.chmod(0o660)
            unix.listen(BACKLOG)
            sockets.append(unix)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise StartupError(f"server.listen / server.unix_socket: {exc}") from None
    if not sockets:
        raise StartupError("server.listen and server.unix_socket are both empty")
    return sockets


def connect_journal(settings: Settings) -> Journal:
    """The configured journal, migrated; why not, in one line."""
    try:
        return open_journal(
            settings.state.dir,
            settings.journal.url.get_secret_value(),
            settings.journal.lease,
            # Workers, timers, locks held by requests in flight and the API's reads.
            pool=settings.executor.max_concurrency + 16,
        )
    except JournalError as exc:
        raise StartupError(f"journal: {exc}") from None


def build_services(
    live: LiveSettings,
    journal: Journal,
    accepting: Callable[[], bool],
    channel: ChannelServer | None = None,
) -> tuple[Services, TimerLoop]:
    """Every component, each reading its settings through ``live``, and the runtime its
    hooks run with: the hook environments, built before a fetched tree is published, and
    (until the daemon sets it) no isolation beyond the account switch. Flow hooks reach the
    integrations through ``channel``."""
    environments = EnvironmentStore(
        live.state.dir / "environments",
        live,
        live_trees=lambda: repository.store.snapshots.iterdir(),
    )
    runtime = HookRuntime(environments=environments)
    repository = Repository(lambda: live.repo, live.state.dir, environments.prepare)
    dispatcher = Dispatcher(journal, repository, live, runtime)
    slack = SlackClients(live)
    outbox = SlackOutbox(journal, slack, live)
    engine = Engine(journal, repository, live, runtime, notifier=outbox, channel=channel)
    services = Services(
        settings=live,
        journal=journal,
        dispatcher=dispatcher,
        repository=repository,
        engine=engine,
        runtime=runtime,
        tokens=TokenTable.load(live.server.tokens_file),
        accepting=accepting,
        slack=SlackInteractions(engine, slack),
        outbox=outbox,
    )
    return services, TimerLoop(journal, engine, live.journal.lease)


class Daemon:
    def __init__(self, config_file: str | None) -> None:
        self.config_file = config_file
        self.live = LiveSettings(load_settings(config_file))
        self.accepting = True
        # The isolations runs may still be using, the current one last; closed at exit,
        # once no run uses them.
        self.isolations: list[Isolation] = []

    @property
    def settings(self) -> Settings:
        return self.live.current

    async def run(self) -> int:
        settings = self.settings
        lock = lock_state_dir(settings.state.dir)
        try:
            journal = connect_journal(settings)
        except StartupError:
            lock.close()
            raise
        resources = contextlib.ExitStack()
        try:
            channel = resources.enter_context(self._integrations(settings))
            self.services, timers = build_services(
                self.live, journal, lambda: self.accepting, channel
            )
            repository, dispatcher = self.services.repository, self.services.dispatcher
            if settings.executor.user:
                _open_snapshots_to_hooks(settings.state.dir, repository)
            resources.callback(self._close_isolations)
            try:
                self._use_isolation(_probe_isolation(settings, self.config_file, repository))
            except IsolationUnavailable as exc:
                raise StartupError(str(exc)) from None
            gate = self._connection_gate()
            sockets = [gate.listener(sock) for sock in _listen_sockets(settings)]
            config = uvicorn.Config(
                create_app(self.services),
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=int(settings.executor.timeout) + 5,
                http=gated_protocol(gate, settings.server.idle_timeout),
                timeout_keep_alive=math.ceil(settings.server.idle_timeout),
                backlog=BACKLOG,
            )
            self.server = _Server(config)
            self._install_signal_handlers()
            dispatcher.start()
            repository.request_refresh()
            background = [
                asyncio.create_task(self._announce_ready()),
                asyncio.create_task(self._keep_fresh(), name="keep-fresh"),
                asyncio.create_task(self._watchdog()),
                asyncio.create_task(self._report_held_log_lines()),
                asyncio.create_task(timers.run(), name="timers"),
            ]
            if self.services.outbox is not None:
                outbox = self.services.outbox.run()
                background.append(asyncio.create_task(outbox, name="slack-outbox"))
            log.info("daemon_start", listen=settings.server.listen, state=str(settings.state.dir))
            await self.server.serve(sockets=sockets)
            systemd.notify("STOPPING=1", "STATUS=draining running hooks")
            grace = settings.executor.timeout + settings.executor.kill_grace
            for task in background:
                task.cancel()
            await asyncio.gather(dispatcher.stop(grace), timers.stop(grace))
            if self.services.slack is not None:
                await self.services.slack.drain(grace)
                self.services.slack.clients.close()
            repository.close()
            log.info("daemon_stop")
            return 0
        finally:
            resources.close()  # after the hooks drained: the channel and isolation outlive runs
            journal.close()
            lock.close()

    @staticmethod
    @contextlib.contextmanager
    def _integrations(settings: Settings) -> Iterator[ChannelServer | None]:
        """The integrations and their channel for flow hooks, for the daemon's lifetime."""
        directory = channel_dir(settings.state.dir)
        try:
            with serve_integrations(settings.integrations, directory) as channel:
                if channel is not None:
                    log.info("integrations_channel", integrations=sorted(settings.integrations))
                yield channel
        except ChannelUnavailable as exc:
            raise StartupError(f"integrations: {exc.message}") from None

    def _connection_gate(self) -> ConnectionGate:
        """Bound open connections by ``server.max_connections`` and the fd limit."""
        server, executor = self.settings.server, self.settings.executor
        budget = connection_budget(server.max_connections, executor.max_concurrency)
        if budget < server.max_connections:
            log.warning(
                "connections_limited",
                max_connections=budget,
                configured=server.max_connections,
                reason="the file descriptor limit (LimitNOFILE) leaves room for no more",
            )
        return ConnectionGate(budget, lambda: len(self.server.server_state.connections))

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.shutdown)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def shutdown(self) -> None:
        """Stop intake; the server closes and the dispatcher drains."""
        log.info("shutdown_requested")
        self.accepting = False
        self.server.should_exit = True

    def _use_isolation(self, isolation: Isolation) -> None:
        """Runs started from now on use ``isolation``; those running keep theirs. One that
        shares its cgroup tree and forking interpreters holds nothing else to close."""
        self.isolations = [old for old in self.isolations if old.warm is not isolation.warm]
        self.isolations.append(isolation)
        self.services.runtime.isolation = isolation

    def _cgroup_holder(self) -> Isolation | None:
        """The latest isolation with a cgroup tree: a reload keeps that tree (runs may still
        be in it, even when a reload in between turned cgroups off)."""
        holders = [isolation for isolation in self.isolations if isolation.cgroups is not None]
        return holders[-1] if holders else None

    def _close_isolations(self) -> None:
        for isolation in reversed(self.isolations):
            isolation.close()

    def reload(self) -> None:
        """Re-read config and tokens, and probe the isolation the new settings ask for;
        every component sees the new settings, the next run the new isolation, then
        refresh. A config that does not parse, or isolation the host cannot give, is
        refused with one line and the old settings stay.

        Listening addresses, the state dir and the number of workers are fixed at start.
        """
        try:
            settings = load_settings(self.config_file)
            # Fixed at start: the sandbox keeps hiding the state dir in use.
            settings = settings.model_copy(update={"state": self.settings.state})
            tokens = TokenTable.load(settings.server.tokens_file)
            isolation = _probe_isolation(
                settings, self.config_file, self.services.repository, self._cgroup_holder()
            )
        except (ConfigError, IsolationUnavailable) as exc:
            log.error("reload_failed", error=str(exc))
            return
        self.live.replace(settings)
        self.services.tokens = tokens
        self._use_isolation(isolation)
        self._reconfigure_integrations(settings)
        if settings.executor.user:
            _open_snapshots_to_hooks(settings.state.dir, self.services.repository)
        self.services.repository.request_refresh()
        log.info("reloaded")
        systemd.notify("STATUS=config reloaded")

    def _reconfigure_integrations(self, settings: Settings) -> None:
        """The running channel's clients follow the new tables; without a channel
        (none were configured at start) new ones wait for a restart."""
        channel = self.services.engine.channel
        if channel is not None:
            channel.integrations.reconfigure(settings.integrations)
        elif settings.integrations:
            log.warning(
                "integrations_need_restart",
                reason="no [integrations.*] at start, so no channel for hooks is running",
            )

    async def _report_held_log_lines(self) -> None:
        while True:
            await asyncio.sleep(REPEATS.window)
            report_held_repeats()

    async def _announce_ready(self) -> None:
        """``READY=1`` once serving with a snapshot; until then, say why not, every few s."""
        repository = self.services.repository
        said_at, said_after = -PROGRESS_EVERY, None
        while not (self.server.started and repository.last_good() is not None):
            reason = repository.waiting_reason()
            news = repository.last_sync is not said_after  # an attempt has just ended
            if reason is not None and (news or time.monotonic() - said_at >= PROGRESS_EVERY):
                log.info("waiting_for_snapshot", reason=reason)
                systemd.notify(f"STATUS={reason}")
                said_at, said_after = time.monotonic(), repository.last_sync
            await asyncio.sleep(0.05)
        index = repository.last_good()
        commit = index.snapshot.commit[:12] if index else "?"
        systemd.notify("READY=1", f"STATUS=serving commit {commit}")
        log.info("ready", commit=commit)

    async def _keep_fresh(self) -> None:
        """Refresh every ``repo.ttl`` even when no event asks, and retry a failed clone.

        ``index`` starts a refresh only when the trusted index has expired, and not while
        a failed one backs off, so this adds no git call the TTL would not allow.
        """
        while True:
            await asyncio.to_thread(self.services.repository.index)
            await asyncio.sleep(KEEP_FRESH_EVERY)  # bounds ttl = 0 to one fetch a second

    async def _watchdog(self) -> None:
        interval = systemd.watchdog_interval()
        if interval is None:
            return
        while True:
            # The process answers even while the database is away: a restart would not help.
            with contextlib.suppress(JournalError):
                await asyncio.to_thread(self.services.journal.counts)
            systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def serve(config_file: str | None) -> int:
    """Run the daemon until SIGTERM; the exit code for the process."""
    try:
        daemon = Daemon(config_file)
    except ConfigError as exc:
        raise StartupError(f"config: {exc}") from None
    configure_logging(daemon.settings.log.format, daemon.settings.log.level)
    os.umask(0o077)
    return asyncio.run(daemon.run())
