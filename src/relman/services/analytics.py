"""Release analytics: the DORA figures from the database (issue 14 item 1).

:meth:`AnalyticsService.dora` is the one use case the API, the CLI and the metrics call:
it first reads the commit times of the healthy production deploys not yet scanned
(:meth:`AnalyticsService.scan_commits`: ``git log PREVIOUS_TAG..TAG`` in a bare clone of
the service's repository kept under the evidence root, ``<evidence_root>/git-cache/``),
stores them, and then hands the records to the pure :func:`relman.domain.dora.report`.

The deploy engine does not record commit times (the deploy runs on the hosts, not here),
so relman reads them where it runs, from ``[services.X] repo``; a repository it cannot
read is recorded with the reason (``commit_scans.error``) and not asked again, and the
deploy simply has no commits in the lead time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from relman.config import RelmanConfig, Settings, redact_url
from relman.deploy.redact import Redactor, url_secrets
from relman.domain.clock import Clock, utcnow
from relman.domain.dora import Outage, Records, Report, check_window_days, report
from relman.domain.errors import InvalidInput, RelmanError
from relman.domain.version import is_release_tag
from relman.store.analytics import AnalyticsStore, Unscanned

log = logging.getLogger("relman.analytics")

#: A full commit sha as ``git log --format=%H`` prints it (SHA-1 or SHA-256).
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


class GitError(RelmanError):
    """A git command reading commit times failed (its first line of stderr, no URL
    credentials)."""

    code = "git_error"


class OutageSource(Protocol):
    """Where the failures come from (the incident store, issue 14 item 2)."""

    async def outages(self, since: datetime, *, service: str | None = None) -> list[Outage]: ...


class AnalyticsService:
    """Computes the DORA figures and collects the commit times they need."""

    def __init__(
        self,
        settings: Settings,
        config: RelmanConfig,
        store: AnalyticsStore,
        *,
        outages: OutageSource | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._config = config
        self._store = store
        self._outages = outages
        self._clock = clock

    def use_outages(self, source: OutageSource) -> None:
        """Take the failures from ``source`` (the incidents) from now on."""
        self._outages = source

    async def dora(
        self, *, service: str | None = None, days: int = 30, scan: bool = True
    ) -> Report:
        """The DORA figures of the ``days`` (1..3650) ending now, for ``service`` or for
        every service; with ``scan``, commit times not yet read are read first (git).

        Raises :class:`InvalidInput` naming ``days`` (out of range) or ``service`` (neither
        in relman.toml nor ever released), :class:`StoreUnavailable`.
        """
        check_window_days(days)
        known = set(self._config.services) | await self._store.known_services()
        if service is not None and service not in known:
            shown = ", ".join(sorted(known)) or "none"
            raise InvalidInput("service", f"unknown service {service!r} (known: {shown})")
        now = self._clock()
        since = now - timedelta(days=days)
        if scan:
            await self.scan_commits(since)
        deploys, releases, commits = await self._store.records(since, service=service)
        outages = (
            None if self._outages is None else await self._outages.outages(since, service=service)
        )
        records = Records(deploys=deploys, releases=releases, commits=commits, outages=outages)
        window = timedelta(hours=self._config.analytics.rollback_window_hours)
        return report(
            records,
            now=now,
            days=days,
            service=service,
            services=sorted(self._config.services),
            rollback_window=window,
        )

    async def scan_commits(self, since: datetime) -> int:
        """Read and store the commits of every healthy production deploy finished after
        ``since`` that was never scanned; returns how many deploys were scanned. A deploy
        of a service not in relman.toml, or whose repository cannot be read, is recorded
        as scanned with the reason (logged), so it is not asked again. Never raises for
        git; raises :class:`StoreUnavailable`."""
        pending = await self._store.unscanned(since)
        fetched: dict[str, str] = {}  # service → why its repository could not be read
        for item in pending:
            revisions, commits, error = await self._commits_of(item, fetched)
            if error:
                log.warning("commit times of %s %s: %s", item.service, item.tag, error)
            await self._store.save_scan(
                item.deployment_id,
                commits=commits,
                revisions=revisions,
                error=error,
                at=self._clock(),
            )
        return len(pending)

    async def _commits_of(
        self, item: Unscanned, fetched: dict[str, str]
    ) -> tuple[str, list[tuple[str, datetime]], str]:
        """The revisions, commits and error of one deploy; a service's repository is
        fetched once per scan (``fetched`` holds the outcome: "" or why it failed), so an
        unreachable one costs one time limit, not one per deploy."""
        service = self._config.services.get(item.service)
        if service is None:
            return "", [], f"service {item.service} is not in relman.toml"
        if not is_release_tag(item.tag):
            return "", [], f"{item.tag!r} is not a release tag"
        previous = (
            item.previous_tag if item.previous_tag and is_release_tag(item.previous_tag) else None
        )
        revisions = f"{previous}..{item.tag}" if previous and previous != item.tag else item.tag
        cache = self._settings.evidence_root / "git-cache" / f"{_safe(item.service)}.git"
        if item.service not in fetched:
            try:
                await fetch_repository(
                    service.repo, cache, time_limit=self._config.analytics.git_timeout
                )
                fetched[item.service] = ""
            except RelmanError as exc:
                fetched[item.service] = str(exc)
        if fetched[item.service]:
            return revisions, [], fetched[item.service]
        try:
            commits = await commit_times(
                cache,
                item.tag,
                previous if previous != item.tag else None,
                time_limit=self._config.analytics.git_timeout,
            )
        except RelmanError as exc:
            return revisions, [], str(exc)
        return revisions, commits, ""


def _safe(name: str) -> str:
    """A service name as one path component."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


async def _git(
    args: Sequence[str], *, time_limit: float, what: str, mask: Callable[[str], str] | None = None
) -> str:
    """Run ``git ARGS`` (no prompt, no pager, C locale); its stdout, or :class:`GitError`
    with ``what`` and git's first line of stderr (URLs' passwords masked, and whatever
    ``mask`` masks)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"}
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        raise GitError(f"{what}: cannot run git: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitError(f"{what}: git took longer than {time_limit:g} s") from None
    if proc.returncode != 0:
        first = next(iter(err.decode("utf-8", "replace").strip().splitlines()), "failed")
        raise GitError(f"{what}: {(mask or _mask)(first)}")
    return out.decode("utf-8", "replace")


def _mask(text: str) -> str:
    return re.sub(r"[a-z][a-z0-9+.-]*://\S+", lambda m: redact_url(m.group(0)), text)


def _masker(repo: str) -> Callable[[str], str]:
    """Masks ``repo``'s credentials in a text — the password of ``user:password@`` and a
    token given as the whole user part (:func:`url_secrets`) — and any URL's password."""
    redactor = Redactor(url_secrets(repo))
    return lambda text: redactor(_mask(text))


async def fetch_repository(repo: str, cache: Path, *, time_limit: float) -> None:
    """Make ``cache`` a bare copy of ``repo``'s tags and branches, fetched with
    ``--force`` (a moved tag is taken as it is now). The cache is an empty bare repository
    the first time, not a clone: a clone would keep ``repo``, credentials and all, in its
    config under the evidence root. Raises :class:`GitError` (never with ``repo``'s
    credentials)."""
    shown = _masker(repo)
    if repo.startswith("-"):
        raise GitError(f"repository {shown(repo)!r}: not a repository URL")
    if not (cache / "HEAD").is_file():  # git init makes the folders it needs
        await _git(
            ["init", "--bare", "--quiet", "--", str(cache)],
            time_limit=time_limit,
            what=f"git init {cache}",
        )
    await _git(
        [
            "-C",
            str(cache),
            "fetch",
            "--quiet",
            "--force",
            "--prune",
            "--",
            repo,
            "+refs/tags/*:refs/tags/*",
            "+refs/heads/*:refs/heads/*",
        ],
        time_limit=time_limit,
        what=f"git fetch {shown(repo)}",
        mask=shown,
    )


async def commit_times(
    cache: Path, tag: str, previous: str | None, *, time_limit: float
) -> list[tuple[str, datetime]]:
    """The commits ``tag`` ships: ``previous..tag`` (those reachable from ``tag`` and not
    from ``previous``), or only the tag's own commit for a service's first production
    deploy (its whole history would make the lead time of everything that ever
    happened). Each as ``(sha, committer time, UTC)``. Raises :class:`GitError` (e.g. a
    tag missing from the repository)."""
    for name in (tag, previous):
        if name is not None and not is_release_tag(name):
            raise GitError(f"{name!r} is not a release tag")
    spec = [f"refs/tags/{previous}..refs/tags/{tag}"] if previous else ["-1", f"refs/tags/{tag}"]
    out = await _git(
        ["-C", str(cache), "log", "--format=%H %ct", *spec, "--"],
        time_limit=time_limit,
        what=f"git log {previous + '..' if previous else ''}{tag}",
    )
    commits = []
    for line in out.splitlines():
        sha, _, stamp = line.strip().partition(" ")
        if _SHA.fullmatch(sha) and stamp.isdigit():
            commits.append((sha, datetime.fromtimestamp(int(stamp), UTC)))
    return commits
