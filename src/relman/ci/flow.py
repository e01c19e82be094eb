"""Which statuses a CI deploy moves a release through before it deploys (pure rules).

The generated workflows report the *outcome* of a deploy in their own steps
(``manual_testing`` / ``staging_failed`` after a stage deploy, ``deployed`` /
``production_failed`` after a production one). What they do not report is the deploy
*starting*, which the lifecycle (DESIGN.md §1) needs before those outcomes are allowed:

============  ==========================================  ==============================
environment   the release may be in                       ``relman ci deploy`` enters
============  ==========================================  ==============================
stage         initiated, building, stage_deploy           building, stage_deploy (what is
                                                          still ahead of the release)
production    manual_test_passed, deploying               deploying (unless already there)
============  ==========================================  ==============================

A release already at the last of these (a re-run job, or relman's own pipeline having
moved it when it dispatched the workflow) is deployed without a status change.
"""

from __future__ import annotations

from relman.domain.errors import Conflict, InvalidInput
from relman.domain.status import ReleaseStatus

S = ReleaseStatus

#: Environment → the statuses a deploy there may start from, in lifecycle order.
DEPLOY_PATHS: dict[str, tuple[ReleaseStatus, ...]] = {
    "stage": (S.INITIATED, S.BUILDING, S.STAGE_DEPLOY),
    "production": (S.MANUAL_TEST_PASSED, S.DEPLOYING),
}

#: Statuses ``relman ci report`` sends. QA's decisions (manual_test_passed/_failed) come
#: from the bot, never from CI (DESIGN.md §5); ``initiated`` is set by release-start.
CI_REPORTABLE: tuple[ReleaseStatus, ...] = tuple(
    s for s in ReleaseStatus if s not in (S.INITIATED, S.MANUAL_TEST_PASSED, S.MANUAL_TEST_FAILED)
)


def deploy_path(environment: str) -> tuple[ReleaseStatus, ...]:
    """The statuses a deploy to ``environment`` may start from, in lifecycle order.

    Raises :class:`InvalidInput` (field ``env``) for an environment other than stage or
    production.
    """
    path = DEPLOY_PATHS.get(environment)
    if path is None:
        hint = (
            " (a developer's server: use relman ci dev-deploy)"
            if environment.startswith("dev:")
            else ""
        )
        raise InvalidInput(
            "env", f"relman ci deploy takes stage or production, not {environment!r}{hint}"
        )
    return path


def statuses_to_enter(release_id: int, environment: str, current: str) -> list[ReleaseStatus]:
    """The statuses to report, in order, before deploying release ``release_id`` (now in
    ``current``) to ``environment``; ``[]`` when it is already deploying there.

    Raises :class:`InvalidInput` for an environment other than stage or production (see
    :func:`deploy_path`), :class:`Conflict` when the release is not in a status a deploy
    to ``environment`` may start from.
    """
    path = deploy_path(environment)
    names = [s.value for s in path]
    if current not in names:
        raise Conflict(
            f"release {release_id} is {current}; a deploy to {environment} starts from "
            + " or ".join(names)
        )
    return list(path[names.index(current) + 1 :])


def check_release_matches(
    release_id: int, service: str, tag: str, *, got_service: str, got_tag: str
) -> None:
    """Raises :class:`Conflict` when release ``release_id`` is not ``service`` ``tag``
    (a workflow given the wrong id must not deploy under another release's name)."""
    if (got_service, got_tag) != (service, tag):
        raise Conflict(f"release {release_id} is {got_service} {got_tag}, not {service} {tag}")
