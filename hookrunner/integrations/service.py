"""The daemon's integrations and the channel its hooks reach them through, started and
stopped together.

The socket lives in a directory of its own (``<state>/run``, mode ``0711``): the hook
account can pass through it to the socket it is told about, but cannot list it, and
nothing else of the state directory opens up. Without any ``[integrations.*]`` there is
nothing to call, so no channel is started and flows' calls say what to configure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from hookrunner.config import IntegrationSettings
from hookrunner.integrations.channel import ChannelServer
from hookrunner.integrations.errors import IntegrationError
from hookrunner.integrations.registry import Integrations

SOCKET_NAME = "integrations.sock"
# sockaddr_un.sun_path holds 108 bytes, the terminating NUL included.
MAX_SOCKET_PATH = 107


class ChannelUnavailable(IntegrationError):
    """The channel cannot listen; the daemon cannot start with integrations."""


def channel_dir(state_dir: Path) -> Path:
    return state_dir / "run"


@contextlib.contextmanager
def serve_integrations(
    configured: Mapping[str, IntegrationSettings], directory: Path
) -> Iterator[ChannelServer | None]:
    """The running channel (``None`` without integrations), closed with its clients."""
    if not configured:
        yield None
        return
    path = directory.absolute() / SOCKET_NAME
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ChannelUnavailable(
            f"{path}: longer than the {MAX_SOCKET_PATH} bytes a Unix socket path may have;"
            " use a shorter state.dir"
        )
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o711)
    integrations = Integrations(configured)
    server = ChannelServer(integrations, path)
    try:
        try:
            server.start()
        except OSError as exc:
            raise ChannelUnavailable(f"{path}: cannot listen: {exc.strerror or exc}") from None
        yield server
    finally:
        server.stop()
        integrations.close()
