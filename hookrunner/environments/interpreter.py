"""Which Python an environment is built for: part of its key, asked of the interpreter itself.

Asking costs a process start, so the answer is cached per interpreter and asked again only
when the interpreter's file changes (an upgrade gets new environments).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from typing import NamedTuple

from hookrunner.environments.errors import EnvironmentBuildError

_ASK = "import sys, platform; print(sys.executable); print(sys.version); print(platform.machine())"
ASK_TIMEOUT = 30.0


class Interpreter(NamedTuple):
    """A resolved interpreter: its executable and what makes a venv for it distinct."""

    executable: str
    identity: str  # executable, version and machine: what an environment is keyed by


_cache: dict[str, tuple[tuple[int, int, int], Interpreter]] = {}
_lock = threading.Lock()


def _signature(path: str) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns


def resolve_interpreter(command: str) -> Interpreter:
    """``command`` (``executor.interpreter``) as an :class:`Interpreter`; raises when unusable."""
    with _lock:
        cached = _cache.get(command)
    if cached is not None:
        with_signature, interpreter = cached
        try:
            if _signature(interpreter.executable) == with_signature:
                return interpreter
        except OSError:
            pass
    program = shutil.which(command)
    if program is None:
        raise EnvironmentBuildError("executor.interpreter", f"{command} not found")
    try:
        answer = subprocess.run(
            [program, "-I", "-c", _ASK],
            capture_output=True,
            text=True,
            timeout=ASK_TIMEOUT,
            check=True,
            env={"PATH": os.environ.get("PATH", os.defpath)},
        ).stdout.splitlines()
        executable = os.path.realpath(answer[0])
        interpreter = Interpreter(executable, "\n".join([executable, *answer[1:]]))
        signature = _signature(executable)
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        raise EnvironmentBuildError("executor.interpreter", f"{command}: {exc}") from None
    with _lock:
        _cache[command] = (signature, interpreter)
    return interpreter
