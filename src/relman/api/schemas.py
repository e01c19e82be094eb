"""Request and response bodies of the Release API (seed 003's endpoints)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from relman.domain.dora import Band, Keys, Report, ServiceReport
from relman.domain.incident import Incident
from relman.domain.release import MAX_RELEASE_ID, Release, ReleaseEvent
from relman.domain.status import ReleaseStatus
from relman.domain.text import text_problem

if TYPE_CHECKING:
    from relman.services.incidents import IncidentView
    from relman.store.deployments import Deployment

# Seed 003 stores these as TEXT; the limits keep one request from filling the table.
_Name = Field(min_length=1, max_length=200)
_Text = Field(max_length=2000)
#: An incident's note or resolution (free text, in its table's ``_free_text``).
_LongText = Field(min_length=1, max_length=4000)


def _check_text(value: str, *, free_text: bool = False, not_blank: bool = False) -> str:
    """``value`` if it passes its rule (:mod:`relman.domain.text`; ``not_blank``: it must
    hold something besides white space), else a validation error whose message is the
    problem as it is, without pydantic's ``Value error, `` (so a query parameter and a
    body field are refused in the same words)."""
    problem = text_problem(value, free_text=free_text)
    if problem is None and not_blank and not value.strip():
        problem = "must not be empty or white space only"
    if problem is not None:
        raise PydanticCustomError("forbidden_text", problem)
    return value


def check_identifier(value: str | None) -> str | None:
    """``value`` if it may be an identifier (issue 15 item 4: no control, format or
    separator character — :mod:`relman.domain.text`); for path and query parameters
    (``None``: the parameter was not given). Refuses it naming the character and its
    position."""
    return None if value is None else _check_text(value)


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
        return _check_text(
            value,
            free_text=info.field_name in cls._free_text,
            not_blank=info.field_name in cls._not_blank,
        )


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
    emergency: bool = Field(
        default=False,
        description="an emergency release: stage, then production without manual testing "
        "(seed 004; a person with role admin or one in [policy] emergency, relayed with the "
        "operator secret as initiated_by; needs reason)",
    )
    reason: str = Field(
        default="", max_length=500, description="why the emergency release skips testing"
    )


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
    #: why this emergency release skipped manual testing; "" for an ordinary release
    emergency_reason: str = ""

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
            emergency_reason=release.emergency_reason,
        )


class ReleaseDetail(ReleaseOut):
    """A release with its audit trail, oldest event first."""

    events: list[EventOut]

    @classmethod
    def of(cls, release: Release) -> ReleaseDetail:
        base = ReleaseOut.of(release).model_dump()
        return cls(**base, events=[EventOut.of(e) for e in release.events])


class DeploymentOut(BaseModel):
    """One deploy or rollback of the history (UTC times): the runner routes' answers and
    ``relman release show --json``'s ``deployments``."""

    id: int
    release_id: int | None
    service: str
    environment: str
    tag: str
    kind: str
    status: str
    actor: str
    hosts: list[str]
    migrated: bool
    backup_path: str
    log_path: str
    evidence_path: str
    error: str
    started_at: datetime
    finished_at: datetime | None
    git_sha: str
    image_digest: str
    artifact_url: str
    evidence_digest: str

    @classmethod
    def of(cls, deployment: Deployment) -> DeploymentOut:
        return cls.model_validate(deployment, from_attributes=True)


class ReleaseList(BaseModel):
    """A page of releases, newest first; pass ``next_cursor`` as ``cursor`` for more."""

    releases: list[ReleaseOut]
    next_cursor: str | None


class Health(BaseModel):
    """``GET {prefix}/health``."""

    status: str
    database: str
    #: ``current``, ``missing`` (never migrated: run ``relman db upgrade``) or ``outdated``;
    #: absent when the database is unreachable.
    schema_: Literal["current", "missing", "outdated"] | None = Field(
        default=None, alias="schema", serialization_alias="schema"
    )
    version: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ErrorOut(BaseModel):
    """Every error answer: a machine-readable kind, a message, and the field if any."""

    error: str
    message: str
    field: str | None = None


class DoraKeysOut(BaseModel):
    """DORA's four keys over one period (``relman.domain.dora.Keys``): durations in
    seconds, the change failure rate as a fraction, a band per key (``null``: no data)."""

    days: float
    deploys: int
    healthy_deploys: int
    emergency_deploys: int
    deploys_per_day: float
    deploys_per_week: float
    deployment_frequency_band: str
    changes: int
    lead_time_median_seconds: float | None
    lead_time_p90_seconds: float | None
    lead_time_band: str | None
    failed_deploys: int
    change_failure_rate: float | None
    change_failure_band: str | None
    failures: int
    restored: int
    unrestored: int
    recovery_median_seconds: float | None
    recovery_band: str | None

    @classmethod
    def of(cls, keys: Keys) -> DoraKeysOut:
        return cls(
            days=keys.days,
            deploys=keys.deploys,
            healthy_deploys=keys.healthy_deploys,
            emergency_deploys=keys.emergency_deploys,
            deploys_per_day=keys.deploys_per_day,
            deploys_per_week=keys.deploys_per_week,
            deployment_frequency_band=keys.frequency_band.value,
            changes=keys.changes,
            lead_time_median_seconds=keys.lead_time_median,
            lead_time_p90_seconds=keys.lead_time_p90,
            lead_time_band=_band(keys.lead_time_band),
            failed_deploys=keys.failed_deploys,
            change_failure_rate=keys.change_failure_rate,
            change_failure_band=_band(keys.change_failure_band),
            failures=keys.failures,
            restored=keys.restored,
            unrestored=keys.unrestored,
            recovery_median_seconds=keys.recovery_median,
            recovery_band=_band(keys.recovery_band),
        )


def _band(band: Band | None) -> str | None:
    return None if band is None else band.value


class DoraWeekOut(BaseModel):
    """The keys of one ISO week (``2026-W48``), clipped to the window."""

    week: str
    start: date
    keys: DoraKeysOut


class DoraServiceOut(BaseModel):
    """A service's keys (``service`` null: every service) over the window and by week."""

    service: str | None
    keys: DoraKeysOut
    weeks: list[DoraWeekOut]

    @classmethod
    def of(cls, part: ServiceReport) -> DoraServiceOut:
        return cls(
            service=part.service,
            keys=DoraKeysOut.of(part.keys),
            weeks=[
                DoraWeekOut(week=w.week, start=w.start, keys=DoraKeysOut.of(w.keys))
                for w in part.weeks
            ],
        )


class DoraOut(BaseModel):
    """``GET {prefix}/dora``: the window ``(since, until]`` and its figures."""

    days: int
    since: datetime
    until: datetime
    rollback_window_hours: float
    all: DoraServiceOut
    services: list[DoraServiceOut]

    @classmethod
    def of(cls, report: Report) -> DoraOut:
        return cls(
            days=report.days,
            since=report.since,
            until=report.until,
            rollback_window_hours=report.rollback_window.total_seconds() / 3600,
            all=DoraServiceOut.of(report.all),
            services=[DoraServiceOut.of(s) for s in report.services],
        )


class IncidentOut(BaseModel):
    """A production incident (issue 14 item 2); ``time_to_restore_seconds`` is null while
    it is open."""

    id: int
    service: str
    environment: str
    status: str
    title: str
    detected_at: datetime
    detected_by: str
    release_ids: list[int]
    impact: str
    resolution: str
    resolved_at: datetime | None
    resolved_by: str
    postmortem: str
    time_to_restore_seconds: float | None

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls(
            id=incident.id,
            service=incident.service,
            environment=incident.environment,
            status=incident.status,
            title=incident.title,
            detected_at=incident.detected_at,
            detected_by=incident.detected_by,
            release_ids=list(incident.release_ids),
            impact=incident.impact,
            resolution=incident.resolution,
            resolved_at=incident.resolved_at,
            resolved_by=incident.resolved_by,
            postmortem=incident.postmortem,
            time_to_restore_seconds=incident.time_to_restore,
        )


class TimelineEntryOut(BaseModel):
    """One line of an incident's timeline (``source``: audit, deploy or incident)."""

    at: datetime
    source: str
    text: str
    actor: str
    release_id: int | None
    log_path: str
    evidence_path: str


class IncidentDetail(IncidentOut):
    """An incident with its timeline, oldest first, and where its Markdown is."""

    timeline: list[TimelineEntryOut]
    markdown_path: str

    @classmethod
    def of_view(cls, view: IncidentView) -> IncidentDetail:
        base = IncidentOut.of(view.incident).model_dump()
        return cls(
            **base,
            timeline=[
                TimelineEntryOut(
                    at=e.at,
                    source=e.source,
                    text=e.text,
                    actor=e.actor,
                    release_id=e.release_id,
                    log_path=e.log_path,
                    evidence_path=e.evidence_path,
                )
                for e in view.timeline
            ],
            markdown_path=str(view.markdown_path),
        )


class IncidentList(BaseModel):
    """Incidents, newest first."""

    incidents: list[IncidentOut]


class IncidentNote(_Strict):
    """``POST {prefix}/incidents/{id}/note``: a note, or the impact or postmortem."""

    _free_text: ClassVar[frozenset[str]] = frozenset({"text"})

    actor: str = _Actor
    text: str = _LongText
    kind: Literal["note", "impact", "postmortem"] = "note"


class IncidentClose(_Strict):
    """``POST {prefix}/incidents/{id}/close``: resolved by hand, with what restored service."""

    _free_text: ClassVar[frozenset[str]] = frozenset({"resolution"})

    actor: str = _Actor
    resolution: str = _LongText
