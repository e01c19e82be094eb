"""The deploy engine (DESIGN.md §4): runs a release on hosts over ssh or locally.

Public API: :func:`deploy` with a :class:`DeployRequest` → :class:`DeployResult`;
:func:`lock_status` / :func:`release_lock` for the host lock; :func:`open_transport`;
:class:`Progress` reports (``DeployRequest.on_progress``); :func:`validate_branch` for
developer deploys of a branch (``DeployRequest.ref_type="branch"``).
"""

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
