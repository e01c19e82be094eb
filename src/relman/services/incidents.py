"""Incidents: opened, joined and resolved by what happens to releases in production, kept
in the database and as Markdown under the evidence root (issue 14 item 2).

The pipeline calls :meth:`IncidentService.on_transition` after every status change it
saves; :func:`relman.domain.incident.effect_of` says what the new status means. The team
hears through the notifier when an incident opens and when it is resolved. People add to
it with :meth:`note` (a note, the impact, the postmortem) and :meth:`close`.

``<evidence_root>/incidents/<id>.md`` is written again on every change, from the stored
incident and a timeline assembled from the audit trail of its releases, their deploys
(log, evidence, each host's steps from ``summary.json``) and the incident's own events.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from relman.config import Settings
from relman.domain.clock import Clock, utcnow
from relman.domain.errors import InvalidInput, RelmanError
from relman.domain.incident import Incident, TimelineEntry, effect_of, render_markdown
from relman.domain.policy import Action, Actor, Roles, authorize
from relman.domain.release import Release
from relman.domain.status import ReleaseStatus
from relman.domain.text import text_problem
from relman.notify import Notice, NoticeKind, Notifier
from relman.store.deployments import DeploymentStore
from relman.store.incidents import IncidentStore
from relman.store.releases import ReleaseStore

log = logging.getLogger("relman.incidents")

PRODUCTION = "production"
NoteKind = Literal["note", "impact", "postmortem"]
NOTE_KINDS: tuple[NoteKind, ...] = ("note", "impact", "postmortem")


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with its timeline (oldest first), the tags of its releases and where
    its Markdown is."""

    incident: Incident
    timeline: list[TimelineEntry]
    releases: dict[int, str]
    markdown_path: Path


class IncidentService:
    """The incident use cases (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        roles: Roles,
        store: IncidentStore,
        releases: ReleaseStore,
        deployments: DeploymentStore,
        notifier: Notifier,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._roles = roles
        self._store = store
        self._releases = releases
        self._deployments = deployments
        self._notifier = notifier
        self._clock = clock

    # --- from the pipeline ------------------------------------------------------------

    async def on_transition(self, release: Release) -> None:
        """React to ``release`` having just entered its status: open or join the
        production incident of its service, or resolve it. Never raises: an incident
        that cannot be written must not fail the deploy that caused it (it is logged)."""
        effect = effect_of(release.status)
        if effect is None or release.id is None:
            return
        try:
            if effect == "open":
                await self._open(release)
            else:
                await self._resolve(release)
        except RelmanError as exc:
            log.error("incident of release %s not recorded: %s", release.id, exc)

    async def _open(self, release: Release) -> None:
        assert release.id is not None
        event = await self._last_transition(release)
        actor, note, at = event
        what = {
            ReleaseStatus.PRODUCTION_FAILED: "production deploy failed",
            ReleaseStatus.ROLLBACK: "rollback requested",
            ReleaseStatus.ROLLBACK_FAILED: "rollback failed",
        }[release.status]
        text = f"{release.release_tag}: {what}" + (f" — {note}" if note else "")
        incident, opened = await self._store.open_or_join(
            service=release.service_name,
            environment=PRODUCTION,
            release_id=release.id,
            title=f"{release.service_name} {release.release_tag}: {what}",
            text=text,
            actor=actor,
            at=at,
        )
        view = await self._write(incident)
        if opened:
            await self._notifier.notify(
                Notice(
                    NoticeKind.INCIDENT_OPENED,
                    release,
                    detail=f"INC-{incident.id} {incident.title} ({view.markdown_path})",
                    ref=f"INC-{incident.id}",
                )
            )

    async def _resolve(self, release: Release) -> None:
        assert release.id is not None
        actor, _note, at = await self._last_transition(release)
        if release.status is ReleaseStatus.ROLLBACK_DONE:
            requested = await self._requested_by(release)
            resolution = (
                f"rollback of release #{release.id} ({release.release_tag}) to "
                f"{release.rollback_to_tag or '?'} is healthy"
            )
            actor = requested or actor
        else:
            resolution = (
                f"healthy production deploy of release #{release.id} ({release.release_tag})"
            )
        incident = await self._store.resolve_open(
            service=release.service_name,
            environment=PRODUCTION,
            resolution=resolution,
            actor=actor,
            at=at,
            release_id=release.id,
        )
        if incident is None:
            return
        view = await self._write(incident)
        restore = incident.time_to_restore or 0.0
        await self._notifier.notify(
            Notice(
                NoticeKind.INCIDENT_RESOLVED,
                release,
                detail=(
                    f"INC-{incident.id} resolved after {restore:.0f} s: {resolution} "
                    f"({view.markdown_path})"
                ),
                ref=f"INC-{incident.id}",
            )
        )

    async def _last_transition(self, release: Release) -> tuple[str, str, Any]:
        assert release.id is not None
        stored = await self._releases.get(release.id, with_events=True)
        for event in reversed(stored.events):
            if event.kind == "transition" and event.to_status is release.status:
                return event.actor, event.note, event.created_at
        return "system", "", self._clock()

    async def _requested_by(self, release: Release) -> str:
        """Who asked for the rollback that just ended (its ``rollback`` transition)."""
        assert release.id is not None
        stored = await self._releases.get(release.id, with_events=True)
        for event in reversed(stored.events):
            if event.kind == "transition" and event.to_status is ReleaseStatus.ROLLBACK:
                return event.actor
        return ""

    # --- people -----------------------------------------------------------------------

    async def find(
        self, *, service: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Incident]:
        """Incidents newest first. Raises :class:`InvalidInput` for a status other than
        ``open``/``resolved`` or a limit outside 1..200."""
        if status is not None and status not in ("open", "resolved"):
            raise InvalidInput("status", f"must be open or resolved, not {status!r}")
        if not 1 <= limit <= 200:
            raise InvalidInput("limit", "must be between 1 and 200")
        return await self._store.find(service=service, status=status, limit=limit)

    async def show(self, incident_id: int) -> IncidentView:
        """An incident with its timeline. Raises :class:`IncidentNotFound`."""
        return await self._view(await self._store.get(incident_id))

    async def note(
        self, incident_id: int, text: str, *, actor: Actor, kind: NoteKind = "note"
    ) -> IncidentView:
        """Add a note, or set the impact or the postmortem, as ``actor`` (role
        ``releaser`` or ``admin``); the Markdown is written again. Raises
        :class:`PermissionDenied`, :class:`InvalidInput` (``kind`` not one of
        :data:`NOTE_KINDS`; ``text``: empty or with a control character),
        :class:`IncidentNotFound`."""
        authorize(self._roles, actor, Action.INCIDENT)
        if kind not in NOTE_KINDS:
            raise InvalidInput("kind", f"must be note, impact or postmortem, not {kind!r}")
        text = _checked(text)
        incident = await self._store.annotate(
            incident_id, kind=kind, text=text, actor=actor.audit_name, at=self._clock()
        )
        return await self._write(incident)

    async def close(self, incident_id: int, resolution: str, *, actor: Actor) -> IncidentView:
        """Resolve an incident by hand with what restored service, as ``actor`` (role
        ``releaser`` or ``admin``); the team is told. Raises like :meth:`note`, and
        :class:`IncidentAlreadyResolved` for an incident that is not open (its resolution
        stays as it is)."""
        authorize(self._roles, actor, Action.INCIDENT)
        resolution = _checked(resolution, field="resolution")
        incident = await self._store.close(
            incident_id, resolution=resolution, actor=actor.audit_name, at=self._clock()
        )
        view = await self._write(incident)
        await self._notifier.notify(
            Notice(
                NoticeKind.INCIDENT_RESOLVED,
                None,
                detail=f"INC-{incident.id} closed by {actor.id}: {resolution}",
                service=incident.service,
                ref=f"INC-{incident.id}",
            )
        )
        return view

    # --- the record -------------------------------------------------------------------

    def markdown_path(self, incident_id: int) -> Path:
        """Where incident ``incident_id``'s Markdown is written."""
        return self._settings.evidence_root / "incidents" / f"{incident_id}.md"

    async def _write(self, incident: Incident) -> IncidentView:
        view = await self._view(incident)
        path = view.markdown_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".md.tmp")
            tmp.write_text(
                render_markdown(view.incident, view.timeline, view.releases), encoding="utf-8"
            )
            tmp.replace(path)  # readers never see half a file
        except OSError as exc:
            log.error("incident %s: cannot write %s: %s", incident.id, path, exc.strerror)
        return view

    async def _view(self, incident: Incident) -> IncidentView:
        if not incident.events:
            incident = await self._store.get(incident.id)
        timeline: list[TimelineEntry] = []
        tags: dict[int, str] = {}
        for release_id in incident.release_ids:
            release = await self._releases.get(release_id, with_events=True)
            tags[release_id] = release.release_tag
            for event in release.events:
                refused = "refused " if event.kind == "refused" else ""
                moved = f"{event.from_status.value} → " if event.from_status else ""
                timeline.append(
                    TimelineEntry(
                        at=event.created_at,
                        source="audit",
                        text=f"{refused}{moved}{event.to_status.value}"
                        + (f": {event.note}" if event.note else ""),
                        actor=event.actor,
                        release_id=release_id,
                    )
                )
            for d in await self._deployments.for_release(release_id):
                if d.environment != PRODUCTION:
                    continue
                steps = _steps(d.evidence_path)
                timeline.append(
                    TimelineEntry(
                        at=d.finished_at or d.started_at,
                        source="deploy",
                        text=f"{d.kind} {d.tag} on {', '.join(d.hosts) or '?'}: {d.status}"
                        + (f" — {d.error}" if d.error else "")
                        + (f"; steps: {steps}" if steps else ""),
                        actor=d.actor,
                        release_id=release_id,
                        log_path=d.log_path,
                        evidence_path=d.evidence_path,
                    )
                )
        for e in incident.events:
            timeline.append(
                TimelineEntry(
                    at=e.at,
                    source="incident",
                    text=f"incident {e.kind}" + (f": {e.text}" if e.text else ""),
                    actor=e.actor,
                )
            )
        timeline.sort(key=lambda entry: entry.at)  # stable: same-time entries keep order
        return IncidentView(incident, timeline, tags, self.markdown_path(incident.id))


def _checked(text: str, *, field: str = "text") -> str:
    text = text.strip()
    if not text:
        raise InvalidInput(field, "must not be empty")
    problem = text_problem(text, free_text=True)
    if problem is not None:
        raise InvalidInput(field, problem)
    if len(text) > 4000:
        raise InvalidInput(field, "at most 4000 characters")
    return text


def _steps(evidence: str) -> str:
    """Each host's steps of a deploy, from its ``summary.json``: ``prod: lock ✓ 0.04s,
    health ✗ 1.20s``; "" when there is no readable summary."""
    if not evidence:
        return ""
    try:
        summary = json.loads((Path(evidence) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    parts = []
    results = summary.get("results") if isinstance(summary, dict) else None
    for host, result in (results or {}).items():
        steps = result.get("steps") if isinstance(result, dict) else None
        shown = [
            f"{s.get('name')} {'✓' if s.get('exit_status') == 0 else '✗'} "
            f"{float(s.get('duration_seconds') or 0):.2f}s"
            for s in steps or []
            if isinstance(s, dict)
        ]
        if shown:
            parts.append(f"{host}: " + ", ".join(shown))
    return "; ".join(parts)
