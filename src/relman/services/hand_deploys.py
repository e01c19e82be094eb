"""Deploys and rollbacks by hand (``relman deploy``, ``relman rollback``): the deploy
engine outside a release, through the same policy and notices as the pipeline (issue 15
item 5).

Before, ``RELMAN_ACTOR=mallory relman deploy shop v1.0.0 --env production`` deployed where
``relman release start`` refused mallory, and nobody heard of it. Now production needs
the role the pipeline asks for (:data:`~relman.domain.policy.ROLES_FOR`: ``deploy to
production`` and ``rollback`` are ``releaser`` or ``admin``), checked by the one
:func:`~relman.domain.policy.authorize`; every run lands in the deploy history with its
actor (:class:`~relman.services.deploys.DeployService` writes the row) and is told to the
notifier's sinks like the pipeline's deploys.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from relman.deploy import DeployResult
from relman.deploy.progress import ProgressCallback
from relman.domain.errors import PermissionDenied
from relman.domain.policy import Action, Actor, Roles, authorize
from relman.notify import Notice, NoticeKind, Notifier
from relman.services.deploys import DeployOutcome, DeployService

log = logging.getLogger("relman.deploys")

#: The environment whose deploys the policy guards (DESIGN.md §5): stage and developer
#: servers stay open to anyone who can run relman, as with ``relman ci dev-deploy``.
PRODUCTION = "production"


class HandDeploys:
    """``relman deploy`` and ``relman rollback``: policy, then the deploy, then notices."""

    def __init__(self, roles: Roles, deploys: DeployService, notifier: Notifier) -> None:
        self._roles = roles
        self._deploys = deploys
        self._notifier = notifier

    async def deploy(
        self,
        service: str,
        tag: str,
        environment: str,
        *,
        actor: Actor,
        only_hosts: Collection[str] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> DeployOutcome:
        """Deploy ``tag`` of ``service`` to ``environment`` as ``actor`` (see
        :meth:`DeployService.deploy`), then notify: ``deployed`` / ``production_failed``
        for production, ``staging_failed`` for a failed stage deploy, the developer kinds on
        ``dev:<name>``, and ``rollback_done`` / ``rollback_failed`` after an automatic
        rollback. Raises :class:`PermissionDenied` (production without role ``releaser``
        or ``admin``; nothing runs, nothing is recorded), and what
        :meth:`DeployService.deploy` raises."""
        self._deploys.target(service, environment)  # an unknown name first: it says more
        self._check(actor, Action.DEPLOY, service, environment)
        outcome = await self._deploys.deploy(
            service,
            tag,
            environment,
            actor=actor.audit_name,
            only_hosts=only_hosts,
            reason=f"relman deploy by {actor.audit_name}",
            on_progress=on_progress,
        )
        result = outcome.result
        kind = _deploy_notice(environment, ok=result.ok)
        if kind is not None:
            await self._tell(kind, service, result, f"{environment}, by {actor.audit_name}")
        if outcome.rollback is not None:
            back = outcome.rollback
            kind = NoticeKind.ROLLBACK_DONE if back.ok else NoticeKind.ROLLBACK_FAILED
            await self._tell(kind, service, back, f"{environment}: automatic, {tag} failed")
        return outcome

    async def rollback(
        self,
        service: str,
        environment: str,
        *,
        actor: Actor,
        to_tag: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> DeployResult:
        """Put ``service`` on ``environment`` back on ``to_tag`` (default: the last healthy
        tag) as ``actor`` (see :meth:`DeployService.rollback`) and notify
        ``rollback_done`` / ``rollback_failed``. Raises :class:`PermissionDenied`
        (production without role ``releaser`` or ``admin``), and what
        :meth:`DeployService.rollback` raises."""
        self._deploys.target(service, environment)
        self._check(actor, Action.ROLLBACK, service, environment)
        result = await self._deploys.rollback(
            service,
            environment,
            actor=actor.audit_name,
            to_tag=to_tag,
            reason=f"relman rollback by {actor.audit_name}",
            on_progress=on_progress,
        )
        kind = NoticeKind.ROLLBACK_DONE if result.ok else NoticeKind.ROLLBACK_FAILED
        await self._tell(kind, service, result, f"{environment}, by {actor.audit_name}")
        return result

    def _check(self, actor: Actor, action: Action, service: str, environment: str) -> None:
        if environment != PRODUCTION:
            return
        try:
            authorize(self._roles, actor, action)
        except PermissionDenied as exc:
            # No release to audit the refusal on: the log keeps it (the actor is no secret);
            # INFO, as the caller shows the refusal itself (a WARNING would reach a CLI
            # user's stderr twice through logging's last-resort handler).
            log.info("refused %s of %s on %s: %s", action.value, service, environment, exc)
            raise

    async def _tell(self, kind: NoticeKind, service: str, result: DeployResult, what: str) -> None:
        detail = what if result.ok else f"{what}: {result.error or 'failed'}"
        await self._notifier.notify(
            Notice(
                kind,
                None,
                detail=detail,
                log_path=str(result.log_path or ""),
                service=service,
                ref=result.tag,
            )
        )


def _deploy_notice(environment: str, *, ok: bool) -> NoticeKind | None:
    """The notice of a deploy by hand, as the pipeline would send for its environment."""
    if environment == PRODUCTION:
        return NoticeKind.DEPLOYED if ok else NoticeKind.PRODUCTION_FAILED
    if environment.startswith("dev:"):
        return NoticeKind.DEV_DEPLOYED if ok else NoticeKind.DEV_DEPLOY_FAILED
    # a stage deploy that works asks nobody: QA is asked about releases, not bare tags
    return None if ok else NoticeKind.STAGING_FAILED
