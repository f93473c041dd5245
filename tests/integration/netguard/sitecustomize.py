"""Test-only network guard, for processes started with this folder on PYTHONPATH (Python imports
``sitecustomize`` at start-up, so Ray's workers get it too).

With ``$ABLATE_TEST_NETLOG`` set to a file, a connection (TCP) or a name lookup off this machine
is refused with ``OSError`` and logged there (pid, command, destination): a test asserts the log
stays empty. Loopback and Unix sockets (Ray's own) pass; a UDP ``connect`` sends nothing and
passes (how a process finds its own address).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

_LOG = os.environ.get("ABLATE_TEST_NETLOG")


def _is_local(host: object) -> bool:
    if not isinstance(host, str) or host in ("", "localhost", socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> None:
    with open(_LOG, "a") as f:  # type: ignore[arg-type]
        f.write(f"{os.getpid()} {' '.join(sys.argv)[:200]}: {what}\n")
    raise OSError(f"network access refused by the test guard: {what}")


if _LOG:
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def _check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            if isinstance(address, tuple) and not _is_local(address[0]):
                _refuse(f"connect {address}")

    def connect(self: socket.socket, address: object) -> None:
        _check(self, address)
        return _connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        _check(self, address)
        return _connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kw: object) -> list:
        if not _is_local(host) and not _is_ip(host):
            _refuse(f"getaddrinfo {host!r}")
        return _getaddrinfo(host, *args, **kw)  # type: ignore[arg-type]

    def _is_ip(host: object) -> bool:
        try:
            ipaddress.ip_address(str(host))
            return True
        except ValueError:
            return False

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo  # type: ignore[method-assign]
