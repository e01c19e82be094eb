"""Choosing a transport for a host (DESIGN.md §4: ``ssh`` or ``local``)."""

from __future__ import annotations

from collections.abc import Callable

from relman.config import Host
from relman.deploy.local import LocalTransport
from relman.deploy.transport import Transport

#: Makes the transport for (host, relman's name of the host). Tests pass their own.
TransportFactory = Callable[[Host, str], Transport]


def open_transport(host: Host, name: str | None = None) -> Transport:
    """A new transport for ``host`` (connections open lazily, on the first command).

    ``name`` is relman's name of the host, used in messages (default: its address).
    Raises :class:`~relman.deploy.errors.TransportError` for an ssh host without known_hosts.
    """
    if host.transport == "local":
        return LocalTransport(name or host.address)
    # Imported here: asyncssh is loaded only by a process that reaches an ssh host.
    from relman.deploy.ssh import SshTransport

    return SshTransport(host, name)
