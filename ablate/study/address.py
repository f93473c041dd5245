"""Whether anything listens at a Ray head address (Ray-free: `ablate run` checks it before its
data checks and Ray's imports, so a mistyped address is one line at once)."""

from __future__ import annotations

import socket

from ablate.errors import AblateError

__all__ = ["probe"]


def probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an explicit ``HOST:PORT`` / ``ray://HOST:PORT`` nobody listens on (ray.init
    would retry for minutes); ``auto`` is left to Ray."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise AblateError(f"cannot join a Ray cluster at {address}: nothing answers at {hostport} ({e}); "
                          "check the head's address and port (`ray status` on the head), or run here "
                          "with --local") from None
