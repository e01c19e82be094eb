"""The deploy engine (DESIGN.md §4): runs a release on hosts over ssh or locally.

Public API: :func:`deploy` with a :class:`DeployRequest` → :class:`DeployResult`;
:func:`lock_status` / :func:`release_lock` for the host lock; :func:`open_transport`;
:class:`Progress` reports (``DeployRequest.on_progress``); :func:`validate_branch` for
developer deploys of a branch (``DeployRequest.ref_type="branch"``).
"""

# The names below are loaded on first use (PEP 562): importing a light part such as
# relman.deploy.progress or relman.deploy.lock then does not load the engine, and the ssh
# transport (asyncssh) is loaded only by a process that reaches an ssh host.

from __future__ import annotations

from typing import TYPE_CHECKING

from relman._lazy import lazy_names

if TYPE_CHECKING:
    from relman.deploy.engine import BackupInfo, DeployRequest, DeployResult, HostResult, deploy
    from relman.deploy.errors import (
        BackupInvalid,
        BranchNotFound,
        CommandFailed,
        DeployError,
        HealthCheckFailed,
        HostKeyRejected,
        LockHeld,
        TagMoved,
        TagNotFound,
        TransportError,
    )
    from relman.deploy.factory import TransportFactory, open_transport
    from relman.deploy.lock import LockStatus, lock_status, release_lock
    from relman.deploy.progress import Progress, ProgressCallback
    from relman.deploy.redact import Redactor
    from relman.deploy.refs import validate_branch
    from relman.deploy.transport import CommandResult, Transport

#: Where each public name lives.
_HOME = {
    "BackupInfo": "relman.deploy.engine",
    "DeployRequest": "relman.deploy.engine",
    "DeployResult": "relman.deploy.engine",
    "HostResult": "relman.deploy.engine",
    "deploy": "relman.deploy.engine",
    "BackupInvalid": "relman.deploy.errors",
    "BranchNotFound": "relman.deploy.errors",
    "CommandFailed": "relman.deploy.errors",
    "DeployError": "relman.deploy.errors",
    "HealthCheckFailed": "relman.deploy.errors",
    "HostKeyRejected": "relman.deploy.errors",
    "LockHeld": "relman.deploy.errors",
    "TagMoved": "relman.deploy.errors",
    "TagNotFound": "relman.deploy.errors",
    "TransportError": "relman.deploy.errors",
    "TransportFactory": "relman.deploy.factory",
    "open_transport": "relman.deploy.factory",
    "LockStatus": "relman.deploy.lock",
    "lock_status": "relman.deploy.lock",
    "release_lock": "relman.deploy.lock",
    "Progress": "relman.deploy.progress",
    "ProgressCallback": "relman.deploy.progress",
    "Redactor": "relman.deploy.redact",
    "validate_branch": "relman.deploy.refs",
    "CommandResult": "relman.deploy.transport",
    "Transport": "relman.deploy.transport",
}


__getattr__ = lazy_names(__name__, _HOME)


__all__ = [
    "BackupInfo",
    "BackupInvalid",
    "BranchNotFound",
    "CommandFailed",
    "CommandResult",
    "DeployError",
    "DeployRequest",
    "DeployResult",
    "HealthCheckFailed",
    "HostKeyRejected",
    "HostResult",
    "LockHeld",
    "LockStatus",
    "Progress",
    "ProgressCallback",
    "Redactor",
    "TagMoved",
    "TagNotFound",
    "Transport",
    "TransportError",
    "TransportFactory",
    "deploy",
    "lock_status",
    "open_transport",
    "release_lock",
    "validate_branch",
]
