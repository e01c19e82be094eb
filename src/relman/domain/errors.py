"""The one error hierarchy of relman.

Every error relman raises on purpose derives from :class:`RelmanError`. The edges (API,
CLI, bot) translate it into a 4xx answer, a one-line message with exit code 2, or a short
chat refusal; nothing below the edge knows about HTTP or Telegram. Messages never carry a
secret: callers pass names and values the user may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class RelmanError(Exception):
    """Base of relman's errors.

    ``code`` is a stable machine-readable kind (used in API error bodies); ``details``
    holds extra JSON-safe facts (a field name, the allowed statuses, …).
    """

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(RelmanError):
    """A value given by a user or a client is malformed; ``field`` names it."""

    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)
        self.field = field


class NotFound(RelmanError):
    """Something addressed by id or name does not exist."""

    code = "not_found"


class ReleaseNotFound(NotFound):
    """No release with this id."""

    def __init__(self, release_id: int) -> None:
        super().__init__(f"release {release_id} not found", release_id=release_id)
        self.release_id = release_id


class Conflict(RelmanError):
    """The request is well-formed but clashes with the current state."""

    code = "conflict"


class IllegalTransition(Conflict):
    """A status change the transition table (DESIGN.md §1) does not allow.

    Carries the current status, the requested one and the statuses allowed from the current
    one, so the caller can tell the user what would have been accepted.
    """

    code = "illegal_transition"

    def __init__(
        self, release_id: int | None, current: str, requested: str, allowed: Iterable[str]
    ) -> None:
        allowed_list = sorted(allowed)
        shown = ", ".join(allowed_list) if allowed_list else "none (final status)"
        super().__init__(
            f"release {release_id}: cannot go from {current} to {requested}; allowed: {shown}",
            release_id=release_id,
            current_status=current,
            requested_status=requested,
            allowed=allowed_list,
        )
        self.current = current
        self.requested = requested
        self.allowed = allowed_list


class Unauthenticated(RelmanError):
    """The caller did not prove who it is (missing or wrong credentials)."""

    code = "unauthenticated"


class PermissionDenied(RelmanError):
    """The caller is known but the policy does not let it do this."""

    code = "permission_denied"


class ConfigError(RelmanError):
    """relman's configuration (environment, .env, relman.toml) is missing or wrong."""

    code = "config_error"


class StoreUnavailable(RelmanError):
    """The database cannot be reached or answered with an error."""

    code = "store_unavailable"


class EnvironmentLocked(Conflict):
    """Another deploy of this service to this environment is running (DESIGN.md §5: one
    deploy per (service, environment) at a time), or someone holds the environment for
    maintenance (``relman lock acquire``, ``maintenance``). Names who holds it, since when
    and — for maintenance — why (``reason``)."""

    code = "environment_locked"

    def __init__(
        self,
        service: str,
        environment: str,
        holder: str,
        since: str,
        tag: str,
        stale: bool = False,
        *,
        reason: str = "",
        maintenance: bool = False,
    ) -> None:
        if maintenance:
            message = (
                f"{service} on {environment} is held for maintenance by {holder} since "
                f"{since}: {reason} (relman lock release {service} --env {environment} "
                "frees it)"
            )
        else:
            note = " (its process is gone: the lock is stale and can be released)" if stale else ""
            message = (
                f"{service} on {environment} is locked by {holder} since {since} "
                f"(deploying {tag}){note}"
            )
        super().__init__(
            message,
            service=service,
            environment=environment,
            holder=holder,
            since=since,
            tag=tag,
            stale=stale,
            reason=reason,
            maintenance=maintenance,
        )
        self.holder = holder
        self.since = since
        self.stale = stale
        self.reason = reason
        self.maintenance = maintenance
