"""The sd_notify protocol's few lines: READY/STOPPING/WATCHDOG for ``Type=notify`` units.

systemd passes a datagram socket in ``NOTIFY_SOCKET``; outside systemd the
variable is absent and every call is a no-op, so the daemon runs the same way
in a terminal, in tests and under the service manager.
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send one state line; returns False when not running under systemd."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
    return True


def watchdog_interval() -> float | None:
    """Half of ``WatchdogSec`` in seconds (what systemd recommends), or None when unset."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
