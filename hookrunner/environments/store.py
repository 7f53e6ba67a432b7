"""Built environments under one directory, keyed by (requirements, interpreter), shared.

``<root>/<key>/`` is a venv, built in ``<root>/.build-*`` and renamed into place only once
complete, so an environment that exists is ready. It is owned by the daemon and open to
read and execute for everyone else: the hook account uses it and cannot change it.
Environments no live tree refers to are removed, and all of them together stay under
``environments.max_bytes``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import structlog

from hookrunner import metrics
from hookrunner.config import SettingsView
from hookrunner.environments.errors import EnvironmentBuildError
from hookrunner.environments.installers import Installer, default_installer
from hookrunner.environments.interpreter import Interpreter, resolve_interpreter
from hookrunner.environments.requirements import (
    REQUIREMENTS_FILE,
    Requirements,
    read_requirements,
    tree_requirements,
)

log = structlog.get_logger("hookrunner.environments")
MARKER = "hookrunner-environment.json"
BUILD_PREFIX = ".build-"
CACHE_DIR = ".cache"
KEY_VERSION = b"hookrunner-environment-1"


def _no_progress(message: str) -> None:
    """The daemon logs instead; dry-run prints these to stderr."""


def _tree_size(root: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def _share_read_only(root: Path) -> None:
    """Readable (and, where the owner may, executable) by all; writable by the owner only."""
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
        os.chmod(directory, 0o755)  # noqa: S103 (the hook account reads and runs it)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class EnvironmentStore:
    def __init__(
        self,
        root: Path,
        settings: SettingsView,
        *,
        live_trees: Callable[[], Iterable[Path]] | None = None,
        progress: Callable[[str], None] = _no_progress,
        installer: Installer | None = None,
    ) -> None:
        """``settings``: ``[environments]`` and ``executor.interpreter`` are read at each use,
        so a reload reaches the next build. ``live_trees`` lists the trees whose
        environments must stay; without it nothing is collected (the user cache of
        ``dry-run``)."""
        self.root = root
        self.settings = settings
        self.live_trees = live_trees
        self.progress = progress
        self._chosen_installer = installer
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()

    @property
    def interpreter(self) -> str:
        return self.settings.executor.interpreter

    def installer(self) -> Installer:
        """The installer for a build starting now, with the settings in force now."""
        chosen = self._chosen_installer
        return chosen or default_installer(self.settings.environments, self.root / CACHE_DIR)

    def key(self, requirements: Requirements, interpreter: Interpreter) -> str:
        digest = hashlib.sha256(KEY_VERSION)
        for part in (interpreter.identity.encode(), requirements.content):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()[:32]

    def python_for(self, directory: Path) -> str:
        """The Python to run ``directory``'s hooks with: its environment's when it has
        requirements, else the interpreter.

        A published tree's environments exist, unless they went since (the interpreter
        was upgraded, someone removed them): then the path still names the missing one,
        so the run fails closed, and it is rebuilt in the background for the next run.
        """
        requirements = read_requirements(directory, directory.name)
        if requirements is None:
            return self.interpreter
        environment = self.root / self.key(requirements, resolve_interpreter(self.interpreter))
        if not environment.is_dir():
            self._rebuild_in_background(requirements, environment.name)
        return str(environment / "bin" / "python")

    def interpreter_for(self, directory: Path) -> str:
        """:meth:`python_for`, failing closed: when the requirements cannot be read, a path
        that names no interpreter, so the run fails to start (a published snapshot's
        could be read when it was built)."""
        try:
            return self.python_for(directory)
        except EnvironmentBuildError as exc:
            log.error("environment_unusable", directory=str(directory), error=str(exc))
            return str(self.root / "unusable" / "bin" / "python")

    def _rebuild_in_background(self, requirements: Requirements, key: str) -> None:
        with self._pending_lock:
            if key in self._pending:
                return
            self._pending.add(key)
        log.warning("environment_missing", environment=key, requirements=requirements.shown)

        def rebuild() -> None:
            try:
                self.ensure(requirements)
            except EnvironmentBuildError as exc:  # no sync reports this one: say it here
                log.error("environment_rebuild", result="error", error=str(exc))
            finally:
                with self._pending_lock:
                    self._pending.discard(key)

        threading.Thread(target=rebuild, name="environment-rebuild", daemon=True).start()

    def prepare(self, tree: Path) -> None:
        """Build every environment ``tree`` needs; raise :class:`EnvironmentBuildError`
        (the commit is then not published) when one cannot be built."""
        for requirements in tree_requirements(tree):
            self.ensure(requirements)

    def ensure(self, requirements: Requirements) -> Path:
        """The ready environment for ``requirements``, built now if no commit built it yet."""
        interpreter = resolve_interpreter(self.interpreter)
        final = self.root / self.key(requirements, interpreter)
        if final.is_dir():
            return final
        with self._lock, self._build_lock():
            if final.is_dir():  # another process (dry-run) built it meanwhile
                return final
            started = time.monotonic()
            installer = self.installer()
            try:
                self._build(requirements, interpreter, installer, final)
            except EnvironmentBuildError:
                # Counted here; said once by whoever asked (the sync's report, a CLI line).
                metrics.ENVIRONMENT_BUILDS.labels(result="error").inc()
                raise
            duration = time.monotonic() - started
            metrics.ENVIRONMENT_BUILDS.labels(result="ok").inc()
            metrics.ENVIRONMENT_BUILD_DURATION.observe(duration)
            log.info(
                "environment_build", result="ok", requirements=requirements.shown,
                environment=final.name, installer=installer.name, duration_s=duration,
            )  # fmt: skip
            self.progress(f"environment for {requirements.shown} ready in {duration:.1f} s")
        return final

    @contextlib.contextmanager
    def _build_lock(self) -> Iterator[None]:
        """One build at a time on this root, across processes; leftovers of a crash go."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        with (self.root / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            for leftover in self.root.glob(f"{BUILD_PREFIX}*"):
                _remove(leftover)
            yield

    def _build(
        self,
        requirements: Requirements,
        interpreter: Interpreter,
        installer: Installer,
        final: Path,
    ) -> None:
        self.progress(
            f"building the environment for {requirements.shown} with {installer.name}"
            f" ({interpreter.executable}) ..."
        )
        self.collect(keep={final.name})
        (self.root / CACHE_DIR).mkdir(mode=0o700, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX, dir=self.root))
        try:
            venv = scratch / "env"
            installer.create(venv, interpreter.executable)
            listed = venv / REQUIREMENTS_FILE
            listed.write_bytes(requirements.content)
            installer.install(venv, listed, requirements)
            size = _tree_size(venv)
            in_use = self.size()
            bound = self.settings.environments.max_bytes
            if in_use + size > bound:
                raise EnvironmentBuildError(
                    requirements.shown,
                    f"its environment ({size} bytes) would bring"
                    f" environments to {in_use + size} bytes, over environments.max_bytes"
                    f" ({bound})",
                )
            marker = {
                "requirements": requirements.shown,
                "interpreter": interpreter.identity,
                "installer": installer.name,
                "bytes": size,
                "built_at": time.time(),
            }
            (venv / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            _share_read_only(venv)
            venv.rename(final)
        finally:
            _remove(scratch)

    def environments(self) -> list[Path]:
        """Every ready environment."""
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]

    def size(self) -> int:
        """Bytes used by the ready environments, as recorded when each was built."""
        total = 0
        for environment in self.environments():
            try:
                total += int(json.loads((environment / MARKER).read_text())["bytes"])
            except (OSError, ValueError, KeyError, TypeError):
                total += _tree_size(environment)
        return total

    def _referenced(self, trees: list[Path]) -> set[str]:
        """The keys of every environment ``trees`` use."""
        interpreter = resolve_interpreter(self.interpreter)
        keys = set()
        for tree in trees:
            with contextlib.suppress(EnvironmentBuildError, OSError):
                keys |= {self.key(r, interpreter) for r in tree_requirements(tree)}
        return keys

    def collect(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove the environments no live tree uses; return their keys.

        When the live trees cannot be listed, nothing is removed.
        """
        if self.live_trees is None:
            return []
        try:
            trees = list(self.live_trees())
        except OSError:
            return []
        wanted = self._referenced(trees) | set(keep)
        removed = [env.name for env in self.environments() if env.name not in wanted]
        for name in removed:
            _remove(self.root / name)
            log.info("environment_collected", environment=name)
        return removed
