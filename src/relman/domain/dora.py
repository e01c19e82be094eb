"""DORA's four keys from relman's own records (issue 14 item 1; DESIGN.md §9). Pure: no I/O,
no framework, no clock — "now" is an argument.

In: :class:`Records` — the production deploys and rollbacks (``deployments`` rows of the
``production`` environment), the releases with their audit transitions, the commits each
production deploy shipped (when known) and, when there are any, the incidents — plus a
window (:func:`check_window_days`: 1..3650 days, default 30) ending at ``now``. Out: a
:class:`Report` with the four keys for every service and for all of them, over the window
and by ISO week (:func:`report`).

How each key is computed (the README's "Release analytics" says the same in words):

* **deployment frequency** — healthy production deploys (kind ``deploy``, status
  ``succeeded``) that finished in the window, per day (÷ days) and per week (× 7 ÷ days).
  Rollbacks are not deploys of a change and are not counted.
* **lead time for changes** — for every commit a healthy production deploy shipped (the
  commits between the previous production tag and this one, :class:`CommitRecord`): the
  deploy's finish time minus the commit's time. Median and 90th percentile over all those
  commits (one change = one commit, as in Google's Four Keys).
* **change failure rate** — of the production deploys that finished in the window, the
  share that failed: status ``failed`` (``production_failed``; the automatic rollback
  follows such a deploy), or healthy but their release was rolled back (a ``rollback``
  transition) within ``rollback_window`` (24 h by default) of the deploy's end.
* **failed deployment recovery time** — from a failure being detected (a release entering
  ``production_failed``, or a rollback being requested) to the service being healthy again
  (``rollback_done``, or the next healthy production deploy or rollback of the service),
  median over the failures detected in the window. When incidents are given
  (:attr:`Records.outages`), they are the failures: detected at → resolved at.
  Failures not yet restored are counted (``unrestored``) but have no duration.

Percentiles: the median is the middle value (the mean of the two middle ones for an even
count); the 90th percentile is the nearest-rank one (the ⌈0.9·n⌉-th smallest value), so
it is always a value that was measured.

Performance bands (:class:`Band`), from the 2023 Accelerate State of DevOps Report (DORA,
Google Cloud), "Software delivery performance levels" table:

========  =====================  ===================  ============  ====================
band      deployment frequency   lead time            change fail   recovery time
========  =====================  ===================  ============  ====================
elite     on demand (≥ 1/day)    < 1 day              ≤ 5 %         < 1 hour
high      1/day … 1/week         1 day … 1 week       ≤ 10 %        < 1 day
medium    1/week … 1/month       1 week … 1 month     ≤ 15 %        1 day … 1 week
low       < 1/month              > 1 month            > 15 %        > 1 week
========  =====================  ===================  ============  ====================

Where two of the report's ranges meet, the boundary value belongs to the better band
(exactly one deploy a day is elite, exactly one week of lead time is high); a month is 30
days. A key without data (no deploy, no commit time, no failure) has no value and no band;
deployment frequency always has one (none deployed is 0 a day: low).

Emergency releases (seed 004, issue 14 item 3) are counted apart: every key includes them
(they are changes in production), and ``emergency_deploys`` says how many of the deploys
were emergency ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from relman.domain.errors import InvalidInput
from relman.domain.status import ReleaseStatus

#: The default window, in days (issue 14: "over a window (default 30 days)").
DEFAULT_WINDOW_DAYS = 30
#: The longest window, in days (ten years).
MAX_WINDOW_DAYS = 3650
#: A rollback requested this long after a healthy deploy makes that deploy a failed change.
DEFAULT_ROLLBACK_WINDOW = timedelta(hours=24)

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY


class Band(StrEnum):
    """DORA's performance levels (see the module docstring for the thresholds)."""

    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def check_window_days(days: int, *, field: str = "days") -> int:
    """``days`` when it is a usable window (1..3650), else :class:`InvalidInput` naming
    ``field``."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise InvalidInput(field, f"must be a whole number of days, not {days!r}")
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise InvalidInput(field, f"must be between 1 and {MAX_WINDOW_DAYS} days, not {days}")
    return days


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeployRecord:
    """One production deploy or rollback (a ``deployments`` row): ``kind`` is ``deploy``
    or ``rollback``, ``status`` ``running``, ``succeeded`` or ``failed``; times are
    timezone-aware UTC."""

    id: int
    service: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    release_id: int | None = None
    tag: str = ""


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    """A release and its status transitions (``(to_status, at)``, oldest first);
    ``emergency`` for an emergency release (seed 004)."""

    id: int
    service: str
    transitions: tuple[tuple[ReleaseStatus, datetime], ...]
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """A commit (``sha``, committed at ``committed_at``, UTC) shipped by the production
    deploy ``deployment_id``."""

    deployment_id: int
    sha: str
    committed_at: datetime


@dataclass(frozen=True, slots=True)
class Outage:
    """A failure in production of ``service``: detected at, restored at (``None`` while
    it lasts). An incident is one (issue 14 item 2)."""

    service: str
    detected_at: datetime
    restored_at: datetime | None


@dataclass(frozen=True, slots=True)
class Records:
    """Everything the figures are computed from. ``outages`` are the incidents; ``None``
    derives the failures from the releases and deploys (see the module docstring)."""

    deploys: Sequence[DeployRecord] = ()
    releases: Sequence[ReleaseRecord] = ()
    commits: Sequence[CommitRecord] = ()
    outages: Sequence[Outage] | None = None


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keys:
    """The four keys over one period. Durations are seconds; rates are fractions (0..1);
    ``None`` means no data (and then the band is ``None`` too)."""

    days: float
    #: production deploys (kind deploy) that finished in the period, healthy or not
    deploys: int
    #: of those, healthy ones (deployment frequency counts these)
    healthy_deploys: int
    deploys_per_day: float
    deploys_per_week: float
    frequency_band: Band
    #: commits with a known time shipped by the healthy deploys
    changes: int
    lead_time_median: float | None
    lead_time_p90: float | None
    lead_time_band: Band | None
    #: deploys that failed or were rolled back within the rollback window
    failed_deploys: int
    change_failure_rate: float | None
    change_failure_band: Band | None
    #: failures detected in the period, restored ones and those still lasting
    failures: int
    restored: int
    unrestored: int
    recovery_median: float | None
    recovery_band: Band | None
    #: deploys of emergency releases among ``deploys`` (counted apart, issue 14 item 3)
    emergency_deploys: int = 0


@dataclass(frozen=True, slots=True)
class Week:
    """The keys of one ISO week (``2026-W48``, starting Monday ``start``), clipped to the
    window."""

    week: str
    start: date
    keys: Keys


@dataclass(frozen=True, slots=True)
class ServiceReport:
    """A service's keys over the window and by week; ``service`` is ``None`` for all."""

    service: str | None
    keys: Keys
    weeks: tuple[Week, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """The figures for the window ``(since, until]``: for all services and each one."""

    days: int
    since: datetime
    until: datetime
    rollback_window: timedelta
    all: ServiceReport
    services: tuple[ServiceReport, ...] = field(default_factory=tuple)


# --- bands ----------------------------------------------------------------------------


def frequency_band(per_day: float) -> Band:
    """The band of a deployment frequency in deploys per day."""
    if per_day >= 1:
        return Band.ELITE
    if per_day >= 1 / 7:
        return Band.HIGH
    if per_day >= 1 / 30:
        return Band.MEDIUM
    return Band.LOW


def lead_time_band(seconds: float | None) -> Band | None:
    """The band of a (median) lead time for changes in seconds."""
    if seconds is None:
        return None
    if seconds < DAY:
        return Band.ELITE
    if seconds <= WEEK:
        return Band.HIGH
    if seconds <= MONTH:
        return Band.MEDIUM
    return Band.LOW


def change_failure_band(rate: float | None) -> Band | None:
    """The band of a change failure rate (a fraction)."""
    if rate is None:
        return None
    if rate <= 0.05:
        return Band.ELITE
    if rate <= 0.10:
        return Band.HIGH
    if rate <= 0.15:
        return Band.MEDIUM
    return Band.LOW


def recovery_band(seconds: float | None) -> Band | None:
    """The band of a (median) failed deployment recovery time in seconds."""
    if seconds is None:
        return None
    if seconds < HOUR:
        return Band.ELITE
    if seconds < DAY:
        return Band.HIGH
    if seconds <= WEEK:
        return Band.MEDIUM
    return Band.LOW


# --- statistics -----------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The middle value (mean of the two middle ones for an even count); ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p ≤ 100): the ⌈p/100·n⌉-th smallest value;
    ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# --- the computation ------------------------------------------------------------------


def derive_outages(records: Records) -> list[Outage]:
    """The production failures found in the records, per service in time order: detected
    when a release enters ``production_failed`` or ``rollback``; a detection while a
    failure lasts joins it (one open failure per service, like incidents); restored at the
    first ``rollback_done`` of a release of the service, or the end of a healthy
    production deploy or rollback, at or after the detection."""
    detections: dict[str, list[datetime]] = {}
    restorations: dict[str, list[datetime]] = {}
    for release in records.releases:
        for status, at in release.transitions:
            if status in (ReleaseStatus.PRODUCTION_FAILED, ReleaseStatus.ROLLBACK):
                detections.setdefault(release.service, []).append(at)
            elif status is ReleaseStatus.ROLLBACK_DONE:
                restorations.setdefault(release.service, []).append(at)
    for deploy in records.deploys:
        if deploy.status == "succeeded" and deploy.finished_at is not None:
            restorations.setdefault(deploy.service, []).append(deploy.finished_at)
    outages: list[Outage] = []
    for service in sorted(detections):
        healthy = sorted(restorations.get(service, []))
        restored_until: datetime | None = None
        for detected in sorted(detections[service]):
            if restored_until is not None and detected <= restored_until:
                continue  # joins the failure being restored (e.g. its automatic rollback)
            restored = next((t for t in healthy if t >= detected), None)
            outages.append(Outage(service, detected, restored))
            if restored is None:
                break  # still failing: every later detection joins this one
            restored_until = restored
    return outages


def _in(at: datetime | None, since: datetime, until: datetime) -> bool:
    return at is not None and since < at <= until


def keys(
    records: Records,
    since: datetime,
    until: datetime,
    *,
    rollback_window: timedelta = DEFAULT_ROLLBACK_WINDOW,
    outages: Sequence[Outage] | None = None,
) -> Keys:
    """The four keys over ``(since, until]`` from ``records`` (already narrowed to the
    services wanted). ``outages`` overrides :attr:`Records.outages` / the derived ones."""
    days = (until - since).total_seconds() / DAY
    releases = {r.id: r for r in records.releases}
    deploys = [
        d
        for d in records.deploys
        if d.kind == "deploy" and d.status != "running" and _in(d.finished_at, since, until)
    ]
    healthy = [d for d in deploys if d.status == "succeeded"]
    per_day = len(healthy) / days if days > 0 else 0.0

    shipped = {d.id: d.finished_at for d in healthy if d.finished_at is not None}
    # A commit dated after its deploy (a skewed clock) counts as shipped at once.
    leads = [
        max(0.0, (shipped[c.deployment_id] - c.committed_at).total_seconds())
        for c in records.commits
        if c.deployment_id in shipped
    ]
    lead_median = median(leads)

    failed = [d for d in deploys if _failed_change(d, releases, rollback_window)]
    rate = len(failed) / len(deploys) if deploys else None

    if outages is None:
        outages = records.outages if records.outages is not None else derive_outages(records)
    detected = [o for o in outages if _in(o.detected_at, since, until)]
    durations = [
        (o.restored_at - o.detected_at).total_seconds()
        for o in detected
        if o.restored_at is not None
    ]
    recovery = median(durations)

    emergency = sum(
        1
        for d in deploys
        if d.release_id is not None
        and d.release_id in releases
        and releases[d.release_id].emergency
    )
    return Keys(
        days=days,
        deploys=len(deploys),
        healthy_deploys=len(healthy),
        deploys_per_day=per_day,
        deploys_per_week=per_day * 7,
        frequency_band=frequency_band(per_day),
        changes=len(leads),
        lead_time_median=lead_median,
        lead_time_p90=percentile(leads, 90),
        lead_time_band=lead_time_band(lead_median),
        failed_deploys=len(failed),
        change_failure_rate=rate,
        change_failure_band=change_failure_band(rate),
        failures=len(detected),
        restored=len(durations),
        unrestored=len(detected) - len(durations),
        recovery_median=recovery,
        recovery_band=recovery_band(recovery),
        emergency_deploys=emergency,
    )


def _failed_change(
    deploy: DeployRecord, releases: dict[int, ReleaseRecord], window: timedelta
) -> bool:
    if deploy.status == "failed":
        return True
    release = releases.get(deploy.release_id) if deploy.release_id is not None else None
    if release is None or deploy.finished_at is None:
        return False
    end = deploy.finished_at + window
    return any(
        status is ReleaseStatus.ROLLBACK and deploy.finished_at <= at <= end
        for status, at in release.transitions
    )


def iso_weeks(since: datetime, until: datetime) -> list[tuple[str, date, datetime, datetime]]:
    """The ISO weeks touching ``(since, until]``, oldest first: ``(label, monday, start,
    end)`` with start/end clipped to the window (weeks run Monday 00:00 UTC to Monday)."""
    weeks = []
    monday = (since - timedelta(days=since.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    while monday < until:
        start, end = max(monday, since), min(monday + timedelta(days=7), until)
        if start < end:
            year, number, _ = monday.isocalendar()
            weeks.append((f"{year}-W{number:02d}", monday.date(), start, end))
        monday += timedelta(days=7)
    return weeks


def _narrow(records: Records, service: str | None) -> Records:
    if service is None:
        return records
    return Records(
        deploys=[d for d in records.deploys if d.service == service],
        releases=[r for r in records.releases if r.service == service],
        commits=records.commits,  # keyed by deployment: the deploys narrow them
        outages=None
        if records.outages is None
        else [o for o in records.outages if o.service == service],
    )


def _service_report(
    records: Records,
    service: str | None,
    since: datetime,
    until: datetime,
    rollback_window: timedelta,
) -> ServiceReport:
    mine = _narrow(records, service)
    outages = mine.outages if mine.outages is not None else derive_outages(mine)
    mine = replace(mine, outages=outages)
    weeks = tuple(
        Week(label, monday, keys(mine, start, end, rollback_window=rollback_window))
        for label, monday, start, end in iso_weeks(since, until)
    )
    return ServiceReport(service, keys(mine, since, until, rollback_window=rollback_window), weeks)


def services_of(records: Records) -> list[str]:
    """Every service the records name, sorted."""
    names: set[str] = set()
    names.update(d.service for d in records.deploys)
    names.update(r.service for r in records.releases)
    if records.outages is not None:
        names.update(o.service for o in records.outages)
    return sorted(names)


def report(
    records: Records,
    *,
    now: datetime,
    days: int = DEFAULT_WINDOW_DAYS,
    service: str | None = None,
    services: Iterable[str] = (),
    rollback_window: timedelta = DEFAULT_ROLLBACK_WINDOW,
) -> Report:
    """The DORA figures of the ``days`` ending at ``now``: for all services together
    (``all``) and for each service (the records' and ``services``, sorted), or only for
    ``service`` when given (then ``all`` is that service's). Raises :class:`InvalidInput`
    naming ``days`` for a window outside 1..3650."""
    check_window_days(days)
    since = now - timedelta(days=days)
    if service is not None:
        one = _service_report(records, service, since, now, rollback_window)
        return Report(days, since, now, rollback_window, replace(one, service=None), (one,))
    names = sorted(set(services_of(records)) | set(services))
    return Report(
        days,
        since,
        now,
        rollback_window,
        _service_report(records, None, since, now, rollback_window),
        tuple(_service_report(records, name, since, now, rollback_window) for name in names),
    )
