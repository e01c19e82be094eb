"""Holding a (service, environment) for maintenance: ``relman lock acquire|release|status``
(issue 15 item 10; Kamal's ``lock acquire -m``).

A maintenance lock is the database deploy lock taken by a person, with a reason and no
process behind it (:meth:`DeployService.hold_for_maintenance`): while it is held every
deploy, rollback and developer deploy there is refused with
:class:`~relman.domain.errors.EnvironmentLocked` naming the holder, the time and the
reason, and the pipeline's queued jobs wait for it like for a running deploy. No
stale-lock check frees it: only ``relman lock release`` does.

The policy (DESIGN.md §5) is the one of deploys by hand (:mod:`relman.services.hand_deploys`):
on ``production``, holding deploys — and freeing someone else's maintenance lock with
``--force`` — needs the role a production deploy by hand needs (``releaser`` or ``admin``,
:data:`~relman.domain.policy.ROLES_FOR` of :attr:`~relman.domain.policy.Action.DEPLOY`),
checked by the one :func:`~relman.domain.policy.authorize`; stage and developer servers
stay open to anyone who can run relman. The holder frees their own lock without a role.
Taking and freeing one is logged (logger ``relman.deploys``).
"""

from __future__ import annotations

import logging

from relman.domain.errors import PermissionDenied
from relman.domain.policy import Action, Actor, Roles, authorize, identity
from relman.services.deploys import DeployService, LockReport
from relman.services.hand_deploys import PRODUCTION
from relman.store.deployments import LockInfo

log = logging.getLogger("relman.deploys")


class DeployLocks:
    """``relman lock …``: the policy, then the lock, then the trace."""

    def __init__(self, roles: Roles, deploys: DeployService) -> None:
        self._roles = roles
        self._deploys = deploys

    async def status(self, service: str, environment: str) -> LockReport:
        """Who holds the deploy lock of ``service`` on ``environment`` (database and
        hosts); see :meth:`DeployService.lock_report`."""
        return await self._deploys.lock_report(service, environment)

    async def acquire(
        self, service: str, environment: str, *, actor: Actor, reason: str
    ) -> LockInfo:
        """Hold deploys of ``service`` to ``environment`` for maintenance as ``actor``
        (the lock's holder is ``actor.audit_name``) because of ``reason``. Returns the lock.

        Raises :class:`InvalidInput` for an unknown service or environment or a bad
        ``reason`` (blank, not one line, a control character, over 500 characters),
        :class:`PermissionDenied` on production without role ``releaser`` or ``admin``
        (nothing is locked), :class:`EnvironmentLocked` naming who holds the lock when it
        is held already (a running deploy or another maintenance)."""
        self._deploys.target(service, environment)  # an unknown name first: it says more
        self._check(actor, f"holding {environment} deploys for maintenance", service, environment)
        held = await self._deploys.hold_for_maintenance(
            service, environment, holder=actor.audit_name, reason=reason
        )
        log.info(
            "🔒 %s %s held for maintenance by %s: %s",
            service,
            environment,
            held.holder,
            held.reason,
        )
        return held

    async def release(
        self, service: str, environment: str, *, actor: Actor, force: bool = False
    ) -> LockReport:
        """Free the lock of ``service`` on ``environment`` as ``actor``; returns what was
        held before (:class:`LockReport`).

        A maintenance lock is freed for its holder, or for anyone with ``force`` (on
        production that also needs role ``releaser`` or ``admin``); otherwise raises
        :class:`~relman.services.deploys.MaintenanceLockHeld` naming the holder and
        ``--force``. Any other lock is freed as :meth:`DeployService.release_locks` frees
        it: when stale, or with ``force``. Raises :class:`InvalidInput` for an unknown
        target, :class:`PermissionDenied`, :class:`EnvironmentLocked` / ``LockHeld`` for a
        live deploy's lock without ``force``."""
        held = await self._deploys.database_lock(service, environment)
        if (
            held is not None
            and held.maintenance
            and force
            and identity(actor.id) != identity(held.holder)
        ):
            self._check(
                actor, "freeing someone else's maintenance lock there", service, environment
            )
        before = await self._deploys.release_locks(
            service, environment, force=force, actor=actor.id
        )
        freed = before.database
        if freed is not None and freed.maintenance:
            log.info(
                "🔓 %s %s maintenance lock of %s (%s) released by %s",
                service,
                environment,
                freed.holder,
                freed.reason,
                actor.audit_name,
            )
        return before

    def _check(self, actor: Actor, doing: str, service: str, environment: str) -> None:
        """On production, ``actor`` needs the role of a production deploy by hand; raises
        :class:`PermissionDenied` saying that ``doing`` needs it too."""
        if environment != PRODUCTION:
            return
        try:
            authorize(self._roles, actor, Action.DEPLOY)
        except PermissionDenied as exc:
            # INFO: the CLI shows the refusal itself (see HandDeploys._check).
            log.info("refused %s of %s: %s", doing, service, exc)
            raise PermissionDenied(f"{exc}; {doing} needs the same role") from None
