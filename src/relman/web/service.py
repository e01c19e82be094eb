"""What the dashboard shows, read through the same services as the API, the bot and the CLI.

One method per page (:meth:`Dashboard.releases`, ``release``, ``environments``,
``decisions``, ``rollback_preview``) and for the live log and evidence files. Decisions are
not here: the web routes call :class:`~relman.services.pipeline.PipelineService`'s
``approve`` / ``reject`` / ``request_rollback`` with ``Source.WEB`` like any other edge.

Who may press which button is asked of the approval policy (:func:`authorize`), without
auditing: showing a button is not an action. The POST is authorized (and a refusal
audited) by the pipeline all the same.

No framework here (no FastAPI, no Jinja2): plain data for the templates.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from relman.bootstrap import Container
from relman.deploy.evidence import SUMS_NAME, sha256_file
from relman.deploy.log import log_path
from relman.domain.dora import Keys, Report, Week
from relman.domain.errors import NotFound, PermissionDenied
from relman.domain.incident import Incident
from relman.domain.policy import Action, Actor, authorize
from relman.domain.release import Release, ReleaseEvent
from relman.domain.status import ReleaseStatus
from relman.services.incidents import IncidentView
from relman.services.releases import ReleasePage
from relman.store.deployments import Deployment

log = logging.getLogger("relman.web")

S = ReleaseStatus
PRODUCTION = "production"
PAGE_SIZE = 50
#: How many earlier releases the rollback choice offers (the bot's picker offers 5).
ROLLBACK_CHOICES = 20
#: How long the releases page trusts what it last learnt runs in production (seconds):
#: finding it costs a few queries per service, and the marker is only a display.
LIVE_TTL = 1.0
#: How often a followed log file is read again, and the deploy's row (seconds).
LOG_POLL = 0.05
STATUS_POLL = 1.0


@dataclass(frozen=True, slots=True)
class Filters:
    """The releases page's filters (already validated by the route)."""

    group: str | None = None
    service: str | None = None
    status: ReleaseStatus | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ReleasesView:
    """A page of releases, newest first; ``live`` holds the ids now in production."""

    page: ReleasePage
    live: frozenset[int]
    services: list[str]
    filters: Filters


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """An audit event and the time spent in the status before it."""

    event: ReleaseEvent
    spent: timedelta | None


@dataclass(frozen=True, slots=True)
class HostRow:
    """One host of a deploy (from the deploy's ``summary.json`` when there is one)."""

    name: str
    ok: bool | None
    sha: str
    version: str
    duration: float | None
    error: str
    health_ok: bool | None


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """A file of a deploy's evidence: path inside the folder, size, SHA-256, and whether
    that matches the folder's ``SHA256SUMS``."""

    name: str
    size: int
    sha256: str
    verified: bool | None


@dataclass(frozen=True, slots=True)
class DeployView:
    """A deploy or rollback of the release, with its hosts and evidence."""

    deployment: Deployment
    hosts: list[HostRow]
    evidence: list[EvidenceFile]

    @property
    def running(self) -> bool:
        return self.deployment.status == "running"

    @property
    def duration(self) -> float | None:
        d = self.deployment
        return None if d.finished_at is None else (d.finished_at - d.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class ReleaseView:
    """The release page: the release, its timeline, deploys, what production runs, and
    which decisions the viewer may take."""

    release: Release
    timeline: list[TimelineRow]
    deploys: list[DeployView]
    current: Release | None
    can_approve: bool
    can_reject: bool
    #: The viewer may put production back on this release's tag (it ran healthy there and
    #: production runs another one now).
    can_rollback_to: bool

    @property
    def live(self) -> bool:
        return self.current is not None and self.current.id == self.release.id

    @property
    def active(self) -> bool:
        return self.release.status in _MOVING or any(d.running for d in self.deploys)


@dataclass(frozen=True, slots=True)
class HostState:
    """What runs on one host of an environment, and its health as last checked."""

    host: str
    address: str
    tag: str = ""
    sha: str = ""
    since: datetime | None = None
    by: str = ""
    release_id: int | None = None
    health_ok: bool | None = None
    checked_at: datetime | None = None
    running: Deployment | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentState:
    name: str
    hosts: list[HostState]


@dataclass(frozen=True, slots=True)
class ServiceState:
    name: str
    environments: list[EnvironmentState]
    current: Release | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A release production may go back to (:meth:`PipelineService.rollback_targets`, the
    bot's choice too): its tag, and when it reached ``deployed``."""

    tag: str
    deployed_at: datetime | None


@dataclass(frozen=True, slots=True)
class RollbackView:
    """The rollback confirmation: production's ``current`` release, the chosen tag, the
    tags to choose from, and whether the viewer may roll back at all."""

    service: str
    current: Release | None
    production_tag: str
    chosen: Candidate | None
    candidates: list[Candidate]
    allowed: bool


@dataclass(frozen=True, slots=True)
class Waiting:
    release: Release
    can_approve: bool
    can_reject: bool


@dataclass(frozen=True, slots=True)
class DecisionsView:
    """What waits for a decision: releases in manual testing, and each service's
    production with the tags it may go back to."""

    waiting: list[Waiting]
    production: list[RollbackView] = field(default_factory=list)


#: The weekly bar charts' geometry (SVG user units): a slot per week, the bar in it, the
#: plot's height. The SVG scales to the page's width (viewBox), so a long window only
#: makes the bars thinner.
SLOT = 12.0
BAR = 9.0
PLOT = 80.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart: its rectangle, the week, the value it shows (``None``: no
    data that week; drawn as a baseline tick) and its CSS class."""

    x: float
    y: float
    height: float
    week: Week
    value: float | None
    kind: str


@dataclass(frozen=True, slots=True)
class Chart:
    """A weekly bar chart of one key: ``width`` × ``height`` user units, the tallest value
    (``top``, what the plot's height stands for) and the bars."""

    width: float
    height: float
    top: float
    bars: list[Bar]
    bar_width: float = BAR


@dataclass(frozen=True, slots=True)
class DoraView:
    """The DORA page: the report (``report.all`` is ``service``'s when one is chosen),
    the services to choose from, and a weekly chart per key (``frequency``, ``lead``,
    ``failure``, ``recovery``)."""

    report: Report
    service: str | None
    services: list[str]
    charts: dict[str, Chart]

    @property
    def keys(self) -> Keys:
        return self.report.all.keys


@dataclass(frozen=True, slots=True)
class IncidentsView:
    """The incidents page: newest first, filtered by service and status."""

    incidents: list[Incident]
    service: str | None
    status: str | None
    services: list[str]


_MOVING = frozenset(
    {S.INITIATED, S.BUILDING, S.STAGE_DEPLOY, S.MANUAL_TEST_PASSED, S.DEPLOYING, S.ROLLBACK}
)


class Dashboard:
    """The dashboard's read side over a :class:`Container`."""

    def __init__(self, container: Container) -> None:
        self._c = container
        self._roles = container.config.policy.roles()
        self._log_root = Path(container.settings.log_root)
        self._evidence_root = Path(container.settings.evidence_root)
        self._live_cache: dict[str, tuple[float, int | None]] = {}
        #: seconds the releases page trusts what it last learnt runs in production
        self.live_ttl = LIVE_TTL

    # --- permissions ------------------------------------------------------------------

    def may(self, actor: Actor, action: Action, release: Release | None = None) -> bool:
        """Whether the policy would let ``actor`` take ``action`` (nothing audited)."""
        try:
            authorize(self._roles, actor, action, release)
        except PermissionDenied:
            return False
        return True

    # --- pages ------------------------------------------------------------------------

    async def releases(self, filters: Filters) -> ReleasesView:
        """Releases newest first by group, service and status, a page at a time (raises
        :class:`InvalidInput` for a bad cursor), with the ones in production marked."""
        page = await self._c.releases.list(
            service=filters.service,
            status=filters.status,
            group=filters.group,
            limit=PAGE_SIZE,
            cursor=filters.cursor,
        )
        shown = {r.service_name for r in page.releases}
        live = await self._live(shown)
        services = sorted(set(self._c.config.services) | shown)
        return ReleasesView(page, live, services, filters)

    async def release(self, release_id: int, actor: Actor) -> ReleaseView:
        """A release's page. Raises :class:`ReleaseNotFound`."""
        timeline = await self._c.pipeline.timeline(release_id)
        release = timeline.release
        current = await self._c.pipeline.current_deployed(release.service_name)
        deploys = [self._deploy_view(d) for d in timeline.deployments]
        in_testing = release.status is S.MANUAL_TESTING
        can_rollback_to = (
            current is not None
            and self.may(actor, Action.ROLLBACK, current)
            and any(r.id == release.id for r in await self._rollback_targets(release.service_name))
        )
        return ReleaseView(
            release=release,
            timeline=_timeline(release.events),
            deploys=deploys,
            current=current,
            can_approve=in_testing and self.may(actor, Action.APPROVE, release),
            can_reject=in_testing and self.may(actor, Action.REJECT, release),
            can_rollback_to=bool(can_rollback_to),
        )

    async def environments(self) -> list[ServiceState]:
        """Per configured service, each environment and host: what runs there (tag, sha,
        since when, by whom, release) and its health as last checked."""
        config = self._c.config
        out: list[ServiceState] = []
        for name in sorted(config.services):
            current = await self._c.pipeline.current_deployed(name)
            envs: list[EnvironmentState] = []
            for env_name, env in sorted(config.environments.items(), key=_env_order):
                history = await self._c.deploys.history(name, env_name)
                hosts = [
                    _host_state(
                        host,
                        config.hosts[host].address if host in config.hosts else "",
                        history,
                        self._summary,
                        current if env_name == PRODUCTION else None,
                    )
                    for host in env.hosts
                ]
                envs.append(EnvironmentState(env_name, hosts))
            out.append(ServiceState(name, envs, current))
        return out

    async def decisions(self, actor: Actor) -> DecisionsView:
        """Releases waiting for QA (with the viewer's buttons) and each configured
        service's production with its rollback choices."""
        page = await self._c.releases.list(status=S.MANUAL_TESTING, limit=PAGE_SIZE)
        waiting = [
            Waiting(r, self.may(actor, Action.APPROVE, r), self.may(actor, Action.REJECT, r))
            for r in page.releases
        ]
        production = [
            await self.rollback_preview(name, None, actor)
            for name in sorted(self._c.config.services)
        ]
        return DecisionsView(waiting, production)

    async def rollback_preview(
        self, service: str, to_tag: str | None, actor: Actor
    ) -> RollbackView:
        """What rolling ``service``'s production back to ``to_tag`` would do (the facts of
        the bot's "⚠️ Подтверждение отката"): the tags offered are the bot's
        (:meth:`PipelineService.rollback_targets`). Raises :class:`InvalidInput` for a
        service that is not configured."""
        self._c.deploys.target(service, PRODUCTION)
        current = await self._c.pipeline.current_deployed(service)
        candidates = [
            Candidate(r.release_tag, r.completed_at) for r in await self._rollback_targets(service)
        ]
        chosen = next((c for c in candidates if c.tag == to_tag), None) if to_tag else None
        allowed = current is not None and self.may(actor, Action.ROLLBACK, current)
        production_tag = current.release_tag if current else ""
        return RollbackView(service, current, production_tag, chosen, candidates, allowed)

    async def dora(self, service: str | None, days: int) -> DoraView:
        """DORA's four keys for ``service`` (or all) over the ``days`` ending now, from
        :meth:`AnalyticsService.dora` (as ``GET {prefix}/dora`` and ``relman dora``: commit
        times not yet read are read first), with a weekly chart per key. Raises
        :class:`InvalidInput` naming ``days`` (outside 1..3650) or ``service`` (unknown)."""
        report = await self._c.analytics.dora(service=service, days=days)
        weeks = list(report.all.weeks)
        services = sorted(set(self._c.config.services) | {s.service or "" for s in report.services})
        charts = {
            # deploys: the healthy part and, stacked on it, the failed part
            "frequency": _chart(
                weeks,
                [
                    ("ok", lambda k: float(k.healthy_deploys)),
                    ("bad", lambda k: float(k.deploys - k.healthy_deploys)),
                ],
            ),
            "lead": _chart(weeks, [("run", lambda k: k.lead_time_median)]),
            "failure": _chart(weeks, [("bad", lambda k: k.change_failure_rate)], top=1.0),
            "recovery": _chart(weeks, [("wait", lambda k: k.recovery_median)]),
        }
        return DoraView(report, service, [s for s in services if s], charts)

    async def incidents(self, service: str | None, status: str | None) -> IncidentsView:
        """Incidents newest first (the last :data:`PAGE_SIZE`), by service and status
        (``open``/``resolved``: else :class:`InvalidInput` naming ``status``)."""
        found = await self._c.incidents.find(service=service, status=status, limit=PAGE_SIZE)
        services = sorted(set(self._c.config.services) | {i.service for i in found})
        return IncidentsView(found, service, status, services)

    async def incident(self, incident_id: int) -> IncidentView:
        """An incident with its timeline. Raises :class:`IncidentNotFound`."""
        return await self._c.incidents.show(incident_id)

    # --- deploy logs and evidence -------------------------------------------------------

    async def deployment(self, release_id: int, deployment_id: int) -> Deployment:
        """A deploy of a release. Raises :class:`NotFound`."""
        timeline = await self._c.pipeline.timeline(release_id)
        for d in timeline.deployments:
            if d.id == deployment_id:
                return d
        raise NotFound(f"release {release_id} has no deploy {deployment_id}")

    async def follow_log(
        self, release_id: int, deployment_id: int, *, skip: int = 0
    ) -> AsyncIterator[str]:
        """The deploy's log lines, the first ``skip`` left out; while the deploy runs, new
        lines as they are written (the file is read again every 50 ms), until it ends.
        Raises :class:`NotFound` before the first line."""
        d = await self.deployment(release_id, deployment_id)
        if d.status != "running":
            for line in self._finished_log(d)[skip:]:
                yield line
            return
        tail = _Tail(self._live_log_path(d), d.started_at)
        sent = 0
        last_check = asyncio.get_running_loop().time()
        while True:
            for line in tail.read():
                sent += 1
                if sent > skip:
                    yield line
            now = asyncio.get_running_loop().time()
            if now - last_check >= STATUS_POLL:
                last_check = now
                d = await self.deployment(release_id, deployment_id)
                if d.status != "running":
                    for line in tail.read(final=True):
                        sent += 1
                        if sent > skip:
                            yield line
                    return
            await asyncio.sleep(LOG_POLL)

    async def evidence_file(self, release_id: int, deployment_id: int, name: str) -> Path:
        """A file of the deploy's evidence folder, by its path inside it. Raises
        :class:`NotFound` for anything else (no path leaves the folder)."""
        d = await self.deployment(release_id, deployment_id)
        folder = self._evidence_dir(d)
        if folder is not None:
            wanted = (folder / name).resolve()
            if wanted.is_relative_to(folder) and wanted.is_file():
                return wanted
        raise NotFound(f"deploy {deployment_id} has no evidence file {name}")

    # --- helpers ----------------------------------------------------------------------

    async def _rollback_targets(self, service: str) -> list[Release]:
        return await self._c.pipeline.rollback_targets(service, limit=ROLLBACK_CHOICES)

    async def _live(self, services: Collection[str]) -> frozenset[int]:
        """The ids of the releases now in production of ``services`` (each looked up at
        most once per :attr:`live_ttl` seconds; the stale ones together, concurrently:
        two indexed queries each, on as many connections of the pool)."""
        now = asyncio.get_running_loop().time()
        stale = [
            name
            for name in dict.fromkeys(services)
            if (cached := self._live_cache.get(name)) is None or now - cached[0] >= self.live_ttl
        ]
        found = await asyncio.gather(*(self._c.pipeline.current_deployed(n) for n in stale))
        for name, current in zip(stale, found, strict=True):
            self._live_cache[name] = (now, current.id if current is not None else None)
        live = (self._live_cache[name][1] for name in services)
        return frozenset(i for i in live if i is not None)

    def _evidence_dir(self, d: Deployment) -> Path | None:
        """The deploy's evidence folder, only when it lies under the evidence root."""
        if not d.evidence_path:
            return None
        folder = Path(d.evidence_path).resolve()
        root = self._evidence_root.resolve()
        if not folder.is_relative_to(root) or not folder.is_dir():
            return None
        return folder

    def _summary(self, d: Deployment) -> dict[str, Any]:
        folder = self._evidence_dir(d)
        if folder is None:
            return {}
        try:
            data = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _deploy_view(self, d: Deployment) -> DeployView:
        results = self._summary(d).get("results") or {}
        hosts: list[HostRow] = []
        for name in d.hosts or list(results):
            r = results.get(name)
            if not isinstance(r, dict):
                ok = None if d.status == "running" else d.status == "succeeded"
                hosts.append(HostRow(name, ok, d.git_sha, d.tag, None, "", None))
                continue
            health = r.get("health") or {}
            hosts.append(
                HostRow(
                    name=name,
                    ok=bool(r.get("ok")),
                    sha=str(r.get("sha_after") or r.get("target_sha") or ""),
                    version=str(r.get("version_after") or ""),
                    duration=r.get("duration_seconds"),
                    error=str(r.get("error") or ""),
                    health_ok=health.get("ok") if isinstance(health, dict) and health else None,
                )
            )
        return DeployView(d, hosts, self._evidence_files(d))

    def _evidence_files(self, d: Deployment) -> list[EvidenceFile]:
        folder = self._evidence_dir(d)
        if folder is None:
            return []
        sums: dict[str, str] = {}
        try:
            for line in (folder / SUMS_NAME).read_text(encoding="utf-8").splitlines():
                digest, _, name = line.partition("  ")
                if name:
                    sums[name.strip()] = digest.strip()
        except OSError:
            pass
        files: list[EvidenceFile] = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            digest = sha256_file(path)
            expected = sums.get(name)
            files.append(
                EvidenceFile(
                    name,
                    path.stat().st_size,
                    digest,
                    None if expected is None else expected == digest,
                )
            )
        return files

    def _live_log_path(self, d: Deployment) -> Path:
        return log_path(self._log_root, d.service, d.tag, d.environment, d.kind)

    def _finished_log(self, d: Deployment) -> list[str]:
        """A finished deploy's lines: its evidence's ``deploy.log``, else its window of
        the log file."""
        folder = self._evidence_dir(d)
        if folder is not None and (folder / "deploy.log").is_file():
            return (folder / "deploy.log").read_text(encoding="utf-8").splitlines()
        path = Path(d.log_path) if d.log_path else self._live_log_path(d)
        tail = _Tail(path, d.started_at, until=d.finished_at)
        return list(tail.read(final=True))


def _chart(
    weeks: list[Week],
    series: list[tuple[str, Callable[[Keys], float | None]]],
    *,
    top: float | None = None,
) -> Chart:
    """A weekly bar chart: per week, the ``series`` values stacked bottom up (each a CSS
    class and how to read it from the week's keys), scaled so the tallest week (or
    ``top``) fills the plot."""
    values = [[read(w.keys) for _, read in series] for w in weeks]
    tallest = max((sum(v or 0.0 for v in row) for row in values), default=0.0)
    scale_top = top if top is not None else tallest
    bars: list[Bar] = []
    for index, (week, row) in enumerate(zip(weeks, values, strict=True)):
        x = index * SLOT + (SLOT - BAR) / 2
        base = PLOT
        for (kind, _), value in zip(series, row, strict=True):
            height = 0.0 if not value or scale_top <= 0 else value / scale_top * PLOT
            bars.append(Bar(x, base - height, height, week, value, kind))
            base -= height
    return Chart(max(len(weeks), 1) * SLOT, PLOT, scale_top, bars)


def _timeline(events: list[ReleaseEvent]) -> list[TimelineRow]:
    rows: list[TimelineRow] = []
    previous: datetime | None = None
    for event in events:
        spent = None if previous is None else event.created_at - previous
        rows.append(TimelineRow(event, spent))
        if event.kind == "transition":
            previous = event.created_at
    return rows


def _env_order(item: tuple[str, Any]) -> tuple[int, str]:
    name = item[0]
    return ({"stage": 0, PRODUCTION: 1}.get(name, 2), name)


def _host_state(
    host: str,
    address: str,
    history: list[Deployment],
    summary: Any,
    current: Release | None,
) -> HostState:
    """From an environment's history (newest first): the last deploy that left ``host``
    healthy (what runs there), the last one that checked it, and one running now."""
    running = next((d for d in history if d.status == "running" and host in d.hosts), None)
    runs: Deployment | None = None
    runs_sha = ""
    checked: Deployment | None = None
    health_ok: bool | None = None
    for d in history:
        if host not in d.hosts or d.status == "running":
            continue
        result = (summary(d).get("results") or {}).get(host)
        ok = bool(result.get("ok")) if isinstance(result, dict) else d.status == "succeeded"
        if checked is None:
            checked, health_ok = d, ok
        if ok:
            runs = d
            if isinstance(result, dict):
                runs_sha = str(result.get("sha_after") or result.get("target_sha") or "")
            break
    if runs is None:
        return HostState(
            host,
            address,
            health_ok=health_ok,
            running=running,
            checked_at=checked.finished_at if checked else None,
        )
    release_id = runs.release_id if runs.kind == "deploy" else None
    if current is not None and current.release_tag == runs.tag:
        release_id = current.id
    return HostState(
        host=host,
        address=address,
        tag=runs.tag,
        sha=runs_sha or runs.git_sha,
        since=runs.finished_at,
        by=runs.actor,
        release_id=release_id,
        health_ok=health_ok,
        checked_at=checked.finished_at if checked else None,
        running=running,
    )


class _Tail:
    """Reads a deploy's lines from a log file shared with earlier deploys of the same
    tag: the lines stamped from ``since`` on (to the second, UTC), up to ``until``; called
    again, only what was appended since (a line is given once it is complete)."""

    def __init__(self, path: Path, since: datetime, until: datetime | None = None) -> None:
        self._path = path
        self._since = since.strftime("%Y-%m-%d %H:%M:%S")
        self._until = None if until is None else until.strftime("%Y-%m-%d %H:%M:%S")
        self._offset = 0
        self._rest = b""
        self._started = False

    def read(self, *, final: bool = False) -> list[str]:
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return []
        self._offset += len(chunk)
        data = self._rest + chunk
        *complete, self._rest = data.split(b"\n")
        if final and self._rest:
            complete.append(self._rest)
            self._rest = b""
        lines: list[str] = []
        for raw in complete:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            stamp = line[:19]
            if not self._started:
                if len(stamp) == 19 and stamp[4] == "-" and stamp >= self._since:
                    self._started = True
                else:
                    continue
            if (
                self._until is not None
                and len(stamp) == 19
                and stamp[4] == "-"
                and stamp > self._until
            ):
                break
            lines.append(line)
        return lines
