"""The per-host deploy lock (DESIGN.md §5: one deploy per service and host at a time).

The lock is a folder created with an atomic ``mkdir`` next to the service's checkout
(``<parent>/.relman-<name>/lock``) holding ``details.json``: who, since when, tag, reason,
and the relman process (pid on a machine). A second deploy finds the folder and is refused
with :class:`~relman.deploy.errors.LockHeld`. A lock whose relman process is dead (same
machine, pid gone) is *stale*; :func:`release_lock` frees it. The database-held lock per
(service, environment) lives in the service layer; this one protects the host itself,
also against a second relman or a hand-run script.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from relman.config import Host, Service
from relman.deploy.errors import CommandFailed, LockHeld
from relman.deploy.factory import TransportFactory, open_transport
from relman.deploy.log import utc_now
from relman.deploy.steps import Step, force_unlock_step, lock_status_step, make_target


@dataclass(frozen=True)
class LockStatus:
    """Whether the lock is held and by whom.

    ``age`` is seconds since it was taken (``None`` when unknown); ``stale`` is ``True``
    when the holder's process is known to be dead, ``False`` when it is known to run,
    ``None`` when relman cannot tell (another machine, unreadable details).
    """

    held: bool
    holder: str | None = None
    since: str | None = None
    age: float | None = None
    tag: str | None = None
    pid: int | None = None
    machine: str | None = None
    deploy_id: str | None = None
    stale: bool | None = None
    lock_dir: str | None = None


def this_machine() -> str:
    """The name relman writes into locks to recognise its own processes."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def parse_details(text: str, lock_dir: str | None = None) -> LockStatus:
    """A held lock's status from its ``details.json`` text (tolerates garbage)."""
    try:
        data: Any = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    since = data.get("since")
    age = None
    if isinstance(since, str):
        try:
            age = max(0.0, (utc_now() - datetime.fromisoformat(since)).total_seconds())
        except ValueError:
            age = None
    pid = data.get("pid") if isinstance(data.get("pid"), int) else None
    machine = data.get("machine") if isinstance(data.get("machine"), str) else None
    stale: bool | None = None
    if pid is not None and machine == this_machine():
        stale = not pid_alive(pid)
    return LockStatus(
        held=True,
        holder=str(data.get("actor") or "unknown"),
        since=since if isinstance(since, str) else None,
        age=age,
        tag=data.get("tag") if isinstance(data.get("tag"), str) else None,
        pid=pid,
        machine=machine,
        deploy_id=data.get("deploy_id") if isinstance(data.get("deploy_id"), str) else None,
        stale=stale,
        lock_dir=lock_dir,
    )


def lock_held_error(status: LockStatus, host_name: str, service_name: str) -> LockHeld:
    """The refusal for a deploy that found ``status``."""
    return LockHeld(
        host=host_name,
        service=service_name,
        holder=status.holder or "unknown",
        since=status.since or "unknown",
        tag=status.tag,
        pid=status.pid,
        stale=status.stale is True,
    )


async def lock_status(
    host: Host,
    service: Service,
    *,
    host_name: str | None = None,
    service_name: str | None = None,
    transport_factory: TransportFactory = open_transport,
) -> LockStatus:
    """Read the lock of ``service`` on ``host``.

    Raises :class:`~relman.deploy.errors.TransportError` when the host cannot be reached.
    """
    name = host_name or host.address
    target = make_target(service_name or "service", service, name, host)
    lines = await _run_once(host, name, lock_status_step(target), transport_factory)
    if not lines or lines[0].strip() != "held":
        return LockStatus(held=False, lock_dir=target.lock_dir)
    return parse_details("\n".join(lines[1:]), target.lock_dir)


async def release_lock(
    host: Host,
    service: Service,
    *,
    host_name: str | None = None,
    service_name: str | None = None,
    force: bool = False,
    transport_factory: TransportFactory = open_transport,
) -> LockStatus:
    """Free the lock of ``service`` on ``host``; returns its status before.

    Only a stale lock (holder's process dead) is freed unless ``force`` is set: a lock
    whose holder runs or cannot be checked raises :class:`LockHeld`. Freeing a lock that is
    not held is a no-op.
    """
    name = host_name or host.address
    svc = service_name or "service"
    status = await lock_status(
        host, service, host_name=name, service_name=svc, transport_factory=transport_factory
    )
    if not status.held:
        return status
    if status.stale is not True and not force:
        raise lock_held_error(status, name, svc)
    target = make_target(svc, service, name, host)
    await _run_once(host, name, force_unlock_step(target), transport_factory)
    return status


async def _run_once(
    host: Host, name: str, step: Step, transport_factory: TransportFactory
) -> list[str]:
    """Run one lock step on a fresh transport and return its output lines; raises
    :class:`CommandFailed` when it fails (the step's ``name`` in the error)."""
    lines: list[str] = []
    transport = transport_factory(host, name)
    try:
        result = await transport.run(
            step.argv,
            cwd=step.cwd,
            env=step.env or None,
            timeout=step.timeout or 30.0,
            on_line=lines.append,
        )
    finally:
        await transport.close()
    if not result.ok:
        raise CommandFailed(
            host=name, step=step.name, exit_status=result.exit_status, timed_out=result.timed_out
        )
    return lines
