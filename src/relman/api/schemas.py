"""Request and response bodies of the Release API (seed 003's endpoints)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from relman.domain.release import MAX_RELEASE_ID, Release, ReleaseEvent
from relman.domain.status import ReleaseStatus
from relman.domain.text import text_problem

# Seed 003 stores these as TEXT; the limits keep one request from filling the table.
_Name = Field(min_length=1, max_length=200)
_Text = Field(max_length=2000)


def check_identifier(value: str | None) -> str | None:
    """``value`` if it may be an identifier (issue 15 item 4: no control, format or
    separator character — :mod:`relman.domain.text`); for path and query parameters
    (``None``: the parameter was not given). Raises :class:`ValueError` naming the
    character and its position."""
    problem = None if value is None else text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class _Strict(BaseModel):
    """A request body. Strict: ``"12"`` is not an id and ``12`` is not a tag; unknown
    fields are refused. Every text field is an identifier (no control or invisible
    character) except those in ``_free_text`` (new lines and tabs allowed), and those in
    ``_not_blank`` must hold something besides white space (an audit row never names an
    invisible actor) — issue 15 item 4, rules in :mod:`relman.domain.text`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    _free_text: ClassVar[frozenset[str]] = frozenset({"note", "reason"})
    _not_blank: ClassVar[frozenset[str]] = frozenset(
        {"service_name", "initiated_by", "github_run_id", "actor"}
    )

    @field_validator("*", mode="after")
    @classmethod
    def _visible_text(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        problem = text_problem(value, free_text=info.field_name in cls._free_text)
        if problem is None and info.field_name in cls._not_blank and not value.strip():
            problem = "must not be empty or white space only"
        if problem is not None:
            # A custom error: the message as it is, without pydantic's "Value error, ".
            raise PydanticCustomError("forbidden_text", problem)
        return value


class CreateRelease(_Strict):
    """``POST {prefix}/release`` — sent by the on-create-version-tag workflow."""

    service_name: str = _Name
    release_tag: str = Field(
        min_length=2, max_length=100, description="v + SemVer, e.g. v1.2.3 or v1.2.3-rc.1"
    )
    initiated_by: str = _Name
    github_run_id: str = Field(min_length=1, max_length=100)
    github_action_link: str = _Text
    github_ref: str = Field(default="", max_length=500)


class StatusReport(_Strict):
    """``PATCH {prefix}/release/{id}`` — a status report from CI."""

    # Enums arrive as JSON strings; strict mode would want the Python enum itself.
    status: ReleaseStatus = Field(strict=False)
    rollback_to_tag: str | None = Field(default=None, max_length=100)
    note: str = Field(default="", max_length=2000)
    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="who acted (GitHub login); defaults to the caller",
    )


class SeedStatusReport(StatusReport):
    """``PATCH {prefix}/release`` — seed 003's form with the id in the body."""

    release_id: int = Field(ge=1, le=MAX_RELEASE_ID)


_Actor = Field(
    min_length=3,
    max_length=200,
    pattern=r"^(tg|gh|cli):\S+",
    description="who decides: tg:<telegram id>, gh:<github login> or cli:<user>",
)


class Decision(_Strict):
    """``POST {prefix}/release/{id}/approve|reject|retry`` — a person's decision, relayed
    by a trusted caller (the bearer secret); CI identities are refused."""

    actor: str = _Actor
    reason: str = Field(default="", max_length=2000)


class RollbackRequest(_Strict):
    """``POST {prefix}/services/{service}/rollback`` — put production back on ``to_tag``."""

    actor: str = _Actor
    to_tag: str = Field(min_length=2, max_length=100)


class EventOut(BaseModel):
    """One audit row (``kind``: ``transition`` or ``refused``)."""

    id: int | None
    from_status: ReleaseStatus | None
    to_status: ReleaseStatus
    actor: str
    source: str
    note: str
    created_at: datetime
    kind: str

    @classmethod
    def of(cls, event: ReleaseEvent) -> EventOut:
        return cls(
            id=event.id,
            from_status=event.from_status,
            to_status=event.to_status,
            actor=event.actor,
            source=event.source.value,
            note=event.note,
            created_at=event.created_at,
            kind=event.kind,
        )


class ReleaseOut(BaseModel):
    """A release as stored (seed 003 columns) plus what may happen next."""

    id: int
    service_name: str
    release_tag: str
    rollback_to_tag: str
    status: ReleaseStatus
    initiated_by: str
    github_run_id: str
    github_action_link: str
    github_ref: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    allowed_next: list[ReleaseStatus]

    @classmethod
    def of(cls, release: Release) -> ReleaseOut:
        assert release.id is not None
        return cls(
            id=release.id,
            service_name=release.service_name,
            release_tag=release.release_tag,
            rollback_to_tag=release.rollback_to_tag,
            status=release.status,
            initiated_by=release.initiated_by,
            github_run_id=release.github_run_id,
            github_action_link=release.github_action_link,
            github_ref=release.github_ref,
            created_at=release.created_at,
            started_at=release.started_at,
            completed_at=release.completed_at,
            allowed_next=sorted(release.allowed_next()),
        )


class ReleaseDetail(ReleaseOut):
    """A release with its audit trail, oldest event first."""

    events: list[EventOut]

    @classmethod
    def of(cls, release: Release) -> ReleaseDetail:
        base = ReleaseOut.of(release).model_dump()
        return cls(**base, events=[EventOut.of(e) for e in release.events])


class ReleaseList(BaseModel):
    """A page of releases, newest first; pass ``next_cursor`` as ``cursor`` for more."""

    releases: list[ReleaseOut]
    next_cursor: str | None


class Health(BaseModel):
    """``GET {prefix}/health``."""

    status: str
    database: str
    version: str


class ErrorOut(BaseModel):
    """Every error answer: a machine-readable kind, a message, and the field if any."""

    error: str
    message: str
    field: str | None = None
