"""Production incidents (issue 14 item 2; seed 000: "Ошибка smoke-тестов → откат и
регистрация инцидента", "Зафиксировать инцидент в … INCIDENT_TEMPLATE.md"). Pure: no I/O.

An incident is opened by what a release's status says happened in production
(:func:`effect_of`): a production deploy failing its health check (``production_failed``),
a rollback being requested (``rollback``), a rollback failing (``rollback_failed``). One
incident is open per (service, environment) at a time; later failures join it. It is
resolved by what restored service: a healthy rollback (``rollback_done``) or the next
healthy production deploy (``deployed``) — or closed by hand.

:func:`render_markdown` writes it in the shape of seed 000's protocol documents (a
``KEYWORDS`` line, an ``[ANCHOR:…]``, ``<HARMONY:BEGIN/END>`` sections with the headings in
Russian and English), which is the shape the seed's INCIDENT_TEMPLATE.md lives in (the
template's own text is not part of the seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from relman.domain.status import ReleaseStatus

Effect = Literal["open", "resolve"]

#: What entering a status does to the incident of the release's service in production.
EFFECTS: dict[ReleaseStatus, Effect] = {
    ReleaseStatus.PRODUCTION_FAILED: "open",
    ReleaseStatus.ROLLBACK: "open",
    ReleaseStatus.ROLLBACK_FAILED: "open",
    ReleaseStatus.ROLLBACK_DONE: "resolve",
    ReleaseStatus.DEPLOYED: "resolve",
}


def effect_of(status: ReleaseStatus) -> Effect | None:
    """``open`` (open one, or join the open one), ``resolve`` (resolve the open one, if
    any) or ``None`` for a status that says nothing about production's health."""
    return EFFECTS.get(status)


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One entry of an incident's own history: ``kind`` is ``detected``, ``joined``,
    ``note``, ``impact``, ``postmortem``, ``resolved`` or ``closed``."""

    at: datetime
    kind: str
    actor: str
    text: str = ""
    release_id: int | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """A production incident as stored. Times are timezone-aware UTC."""

    id: int
    service: str
    environment: str
    status: Literal["open", "resolved"]
    title: str
    detected_at: datetime
    detected_by: str
    release_ids: tuple[int, ...]
    updated_at: datetime
    impact: str = ""
    resolution: str = ""
    resolved_at: datetime | None = None
    resolved_by: str = ""
    postmortem: str = ""
    events: tuple[IncidentEvent, ...] = field(default_factory=tuple)

    @property
    def time_to_restore(self) -> float | None:
        """Seconds from detection to resolution (``None`` while open)."""
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.detected_at).total_seconds()


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an incident's timeline: from the audit trail (``audit``), a deploy
    (``deploy``, with its log and evidence) or the incident itself (``incident``)."""

    at: datetime
    source: Literal["audit", "deploy", "incident"]
    text: str
    actor: str = ""
    release_id: int | None = None
    log_path: str = ""
    evidence_path: str = ""


def _when(at: datetime | None) -> str:
    return "—" if at is None else f"{at:%Y-%m-%d %H:%M:%S} UTC"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}h {rest // 60}m {rest % 60}s" if hours else f"{rest // 60}m {rest % 60}s"


def _block(anchor: str, name: str, heading: str, lines: Sequence[str]) -> list[str]:
    body = [line for line in lines] or ["—"]
    return [
        f'<HARMONY:BEGIN name="{anchor}:{name}">',
        f"## {heading}",
        *body,
        f'<HARMONY:END name="{anchor}:{name}">',
        "",
    ]


def render_markdown(
    incident: Incident, timeline: Sequence[TimelineEntry], releases: dict[int, str]
) -> str:
    """The incident as Markdown in seed 000's document shape (see the module docstring).
    ``releases`` maps the involved release ids to ``v1.2.3`` tags; ``timeline`` is
    oldest first. Pure; the result ends with a new line."""
    anchor = f"PROJECT:RELMAN:INCIDENT:{incident.id}"
    involved = ", ".join(f"#{r} {releases.get(r, '?')}" for r in incident.release_ids) or "—"
    lines = [
        f"KEYWORDS: инцидент, incident, {incident.service}, {incident.environment}, откат",
        f"[ANCHOR:{anchor}]",
        f'<HARMONY:BEGIN name="{anchor}">',
        f"# Инцидент INC-{incident.id}: {incident.title}",
        "",
    ]
    lines += _block(
        anchor,
        "SUMMARY",
        "Сводка (Summary)",
        [
            f"- Сервис (service): {incident.service}",
            f"- Окружение (environment): {incident.environment}",
            f"- Статус (status): {incident.status}",
            f"- Обнаружен (detected): {_when(incident.detected_at)}, {incident.detected_by}",
            f"- Релизы (releases): {involved}",
            f"- Время восстановления (time to restore): {_duration(incident.time_to_restore)}",
        ],
    )
    lines += _block(
        anchor, "IMPACT", "Влияние (Impact)", [incident.impact] if incident.impact else []
    )
    lines += _block(
        anchor,
        "TIMELINE",
        "Хронология (Timeline)",
        [
            f"- {_when(e.at)} — {e.text}"
            + (f" ({e.actor})" if e.actor else "")
            + (f" — release #{e.release_id}" if e.release_id else "")
            for e in timeline
        ],
    )
    evidence = []
    for e in timeline:
        if e.log_path:
            evidence.append(f"- log: `{e.log_path}`")
        if e.evidence_path:
            evidence.append(f"- evidence: `{e.evidence_path}`")
    lines += _block(anchor, "EVIDENCE", "Логи и evidence (Logs and evidence)", evidence)
    resolution = (
        [
            f"- Что восстановило сервис (what restored service): {incident.resolution}",
            f"- Когда (when): {_when(incident.resolved_at)}",
            f"- Кто (by): {incident.resolved_by}",
        ]
        if incident.status == "resolved"
        else ["- Не решён (not resolved yet)"]
    )
    lines += _block(anchor, "RESOLUTION", "Решение (Resolution)", resolution)
    lines += _block(
        anchor,
        "POSTMORTEM",
        "Постмортем (Postmortem)",
        [incident.postmortem] if incident.postmortem else [],
    )
    lines.append(f'<HARMONY:END name="{anchor}">')
    return "\n".join(lines) + "\n"
