"""sd_notify over ``$NOTIFY_SOCKET`` (standard library only; a no-op outside systemd)."""

from __future__ import annotations

import os
import socket


def notify(*lines: str) -> bool:
    """Send ``READY=1``, ``STATUS=…``, ``WATCHDOG=1``…; ``False`` when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            # Never wait: a full notify queue must not stall the event loop that sends.
            sock.sendto("\n".join(lines).encode(), socket.MSG_DONTWAIT, address)
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Half of ``WatchdogSec`` when systemd asked this process for pings."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
