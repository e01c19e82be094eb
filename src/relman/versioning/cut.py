"""Cutting a release: seed 004's ``scripts/create-release.sh`` and its manual steps.

1. choose the version (a bump kind or an explicit version),
2. update the version files (``pyproject.toml`` in PEP 440 form, ``package.json``),
3. write the changelog section into ``CHANGELOG.md``,
4. ``git commit -m "chore: bump version to X"``,
5. ``git tag -a vX -m "Release vX"`` (plus the changelog section),
6. ``git push`` of the branch and the tag, when asked.

The changelog section lists the commits since the latest release tag (a prerelease tag
counts too), so each section says what its own tag added — except a final release after
its release candidates (v1.2.3 after v1.2.3-rc.1, rc.2): its section gathers everything
since the release before them, as release-please and conventional-changelog do, without
the candidates' own version-bump commits (issue 15 item 11).

:func:`plan_release` does every check and computes every byte to write without touching
anything; :func:`apply_release` writes, and undoes its writes when git refuses the commit
or the tag, so a refusal never leaves a half-cut release behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import semver

from relman.domain.errors import InvalidInput
from relman.versioning.bump import BumpKind, PreLabel, auto_kind, next_version, parse_version
from relman.versioning.changelog import insert_section, render_section
from relman.versioning.commits import Commit, parse_commit
from relman.versioning.errors import GitError, PushFailed, ReleaseRefused
from relman.versioning.files import DEFAULT_VERSION_FILES, kind_of, rewrite
from relman.versioning.git import Git, ReleaseTag, check_ref_name


@dataclass(frozen=True)
class CutOptions:
    """What the user asked for (the ``relman version cut`` flags).

    Exactly one of ``bump`` and ``version`` is needed. ``files`` are paths relative to the
    repository root; ``None`` means the defaults (``pyproject.toml`` and ``package.json``,
    those that exist). ``today`` dates the changelog section (default: today, UTC).
    """

    bump: BumpKind | None = None
    pre: PreLabel | None = None
    version: str | None = None
    files: tuple[str, ...] | None = None
    changelog: str = "CHANGELOG.md"
    push: bool = False
    force: bool = False
    remote: str = "origin"
    release_branch: str = "main"
    today: dt.date | None = None


@dataclass(frozen=True)
class FileChange:
    """One file the release writes: its path relative to the root, its text before
    (``None`` when it does not exist yet) and after."""

    path: str
    before: str | None
    after: str


@dataclass(frozen=True)
class ReleasePlan:
    """Everything a release will do, computed and checked, nothing written yet."""

    root: Path
    head: str
    branch: str | None
    previous: ReleaseTag | None
    version: semver.Version
    commits: tuple[Commit, ...]
    changes: tuple[FileChange, ...]
    changelog_section: str
    commit_message: str
    tag_message: str
    forced: tuple[str, ...] = ()
    push_remote: str | None = None
    push_refspecs: tuple[str, ...] = ()
    #: A forced release cut off the release branch also records itself there (issue 14
    #: item 3): ``release_branch`` (at ``release_branch_head``) gets a commit with these
    #: version files and its CHANGELOG in step with the tag.
    release_branch: str | None = None
    release_branch_head: str = ""
    release_branch_changes: tuple[FileChange, ...] = ()

    @property
    def tag(self) -> str:
        """The release tag, ``v`` + the version."""
        return f"v{self.version}"


@dataclass(frozen=True)
class ReleaseResult:
    """A cut release: its plan, the release commit's sha, whether it was pushed."""

    plan: ReleasePlan
    commit: str
    pushed: bool


def next_release_version(
    repo: Path,
    kind: BumpKind,
    pre: PreLabel | None = None,
) -> semver.Version:
    """The next version of the git repository at ``repo`` (``relman version next``).

    The base is the highest ``v``-SemVer tag, or 0.0.0 when there is none (so the first
    ``minor`` is 0.1.0). ``auto`` reads the commits since that tag (see
    :func:`relman.versioning.bump.auto_kind`); with none since a release candidate it is
    that candidate's final version (v1.2.3-rc.2 → 1.2.3). Raises :class:`GitError` outside
    a repository, :class:`ReleaseRefused` for ``auto`` without new commits since a final
    release or a label switch that would go backwards.
    """
    git = Git.open(repo)
    latest = git.latest_release_tag()
    return _choose_version(git, latest, kind, pre)


def next_release_choices(
    repo: Path, pre: PreLabel | None = None
) -> list[tuple[BumpKind, semver.Version | None]]:
    """Every bump kind with the version it would give (``relman version next --all``),
    in :class:`BumpKind` order; ``None`` for a kind refused here (``auto`` without new
    commits, a label switch going backwards). After a release candidate ``patch`` (and
    ``auto``) offer its final version. Raises :class:`GitError` outside a repository."""
    git = Git.open(repo)
    latest = git.latest_release_tag()
    choices: list[tuple[BumpKind, semver.Version | None]] = []
    for kind in BumpKind:
        try:
            choices.append((kind, _choose_version(git, latest, kind, pre)))
        except ReleaseRefused:
            choices.append((kind, None))
    return choices


def plan_release(repo: Path, options: CutOptions) -> ReleasePlan:
    """Check everything and compute the release; writes nothing.

    Raises :class:`InvalidInput` for contradicting or malformed options,
    :class:`GitError` outside a repository, and :class:`ReleaseRefused` for a repository
    without commits, a dirty working tree (changed, staged or untracked files), a version
    not greater than the latest tag, a tag that exists (locally or, with ``push``, on the
    remote), a missing remote, or a branch other than the release branch — the last one
    unless ``force`` (seed 004's "Принудительный релиз"), which is then recorded in the tag
    message, and the release branch (when it exists locally) is planned to get the same
    version files and changelog section in a commit of its own, so it stays in step with
    the tag (pushed too with ``push``). A missing explicitly named version file is
    :class:`InvalidInput`.
    """
    remote = check_ref_name("remote", options.remote)
    release_branch = check_ref_name("release_branch", options.release_branch)
    if options.version is not None and (options.bump is not None or options.pre is not None):
        raise InvalidInput("version", "give either --version or --bump/--pre, not both")
    if options.version is None and options.bump is None:
        raise InvalidInput(
            "bump",
            "choose the bump (--bump major|minor|patch|prerelease|auto) "
            "or the version (--version X.Y.Z)",
        )
    git = Git.open(repo)
    head = git.head()
    if head is None:
        raise ReleaseRefused("the repository has no commits yet; commit something first")
    dirty = git.status()
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:5]) + (" …" if len(dirty) > 5 else "")
        raise ReleaseRefused(f"the working tree is not clean ({shown}); commit or stash first")

    latest = git.latest_release_tag()
    if options.version is not None:
        version = parse_version(options.version)
    else:
        assert options.bump is not None
        version = _choose_version(git, latest, options.bump, options.pre)
    tag = f"v{version}"
    if git.tag_exists(tag):
        raise ReleaseRefused(f"tag {tag} already exists")
    if latest is not None and version <= latest.version:
        raise ReleaseRefused(f"{tag} is not greater than the latest tag {latest.name}")

    branch = git.current_branch()
    forced: list[str] = []
    if branch != release_branch:
        where = f"on branch {branch}" if branch else "on a detached HEAD"
        if not options.force:
            raise ReleaseRefused(
                f"{where}, not on the release branch {release_branch}; "
                "use --force for an emergency release"
            )
        forced.append(f"cut {where}, not on the release branch {release_branch}")

    sync_head = git.branch_head(release_branch) if forced else None
    refspecs: tuple[str, ...] = ()
    if options.push:
        if git.remote_url(remote) is None:
            raise ReleaseRefused(f"there is no git remote {remote!r} to push to")
        if git.remote_has_tag(remote, tag):
            raise ReleaseRefused(f"tag {tag} already exists on remote {remote}")
        branch_ref = [f"refs/heads/{branch}:refs/heads/{branch}"] if branch else []
        if sync_head is not None:
            branch_ref.append(f"refs/heads/{release_branch}:refs/heads/{release_branch}")
        refspecs = (*branch_ref, f"refs/tags/{tag}:refs/tags/{tag}")

    candidates = _candidates_of(git, version)
    base = _changelog_base(git, version, candidates) if candidates else latest
    bumps = {f"chore: bump version to {tag.version}" for tag in candidates}
    commits = tuple(
        commit
        for commit in (
            parse_commit(raw.sha, raw.message)
            for raw in git.commits_since(base.name if base else None)
        )
        if commit.scope is not None or f"{commit.type}: {commit.description}" not in bumps
    )
    version_files = _version_files(git.root, options.files)
    changes = [_version_file_change(git.root, path, version) for path in version_files]
    today = options.today or dt.datetime.now(dt.UTC).date()
    section = render_section(tag, today, commits, [t.name for t in candidates])
    changelog_path = _inside(git.root, options.changelog, "changelog")
    old_changelog = _read(git.root, changelog_path, "changelog")
    changes.append(
        FileChange(changelog_path, old_changelog, insert_section(old_changelog, section))
    )
    sync_changes: list[FileChange] = []
    if sync_head is not None:
        sync_changes = _branch_changes(
            git, sync_head, version_files, changelog_path, version, section
        )

    return ReleasePlan(
        root=git.root,
        head=head,
        branch=branch,
        previous=latest,
        version=version,
        commits=commits,
        changes=tuple(change for change in changes if change.before != change.after),
        changelog_section=section,
        commit_message=f"chore: bump version to {version}\n",
        tag_message=_tag_message(tag, section, forced),
        forced=tuple(forced),
        push_remote=remote if options.push else None,
        push_refspecs=refspecs,
        release_branch=release_branch if sync_head is not None else None,
        release_branch_head=sync_head or "",
        release_branch_changes=tuple(c for c in sync_changes if c.before != c.after),
    )


def apply_release(plan: ReleasePlan) -> ReleaseResult:
    """Write the files, commit, tag and (if planned) push.

    First re-checks that HEAD has not moved, the tree is still clean and the tag still
    absent (a plan may wait for a confirmation). If the commit or the tag fails, the files
    are restored, the index reset and the branch put back, then the :class:`GitError` is
    raised. If only the push fails, the local release stays and :class:`PushFailed` says
    how to push it by hand.
    """
    git = Git(plan.root)
    if git.head() != plan.head or git.status() or git.tag_exists(plan.tag):
        raise ReleaseRefused(
            "the repository changed since the release was planned; run the command again"
        )
    paths = [change.path for change in plan.changes]
    written: list[FileChange] = []
    staged = committed = False
    try:
        for change in plan.changes:
            written.append(change)  # before writing: a half-written file is restored too
            _write(plan.root / change.path, change.after)
        if paths:
            git.add(paths)
            staged = True
        commit = git.commit(plan.commit_message)
        committed = True
        git.create_annotated_tag(plan.tag, plan.tag_message)
    except GitError:
        _undo(git, plan, written, staged=staged, committed=committed)
        raise
    except OSError as exc:
        _undo(git, plan, written, staged=staged, committed=committed)
        raise ReleaseRefused(
            f"cannot write {exc.filename or 'a release file'}: {exc.strerror or exc}; "
            "nothing was released"
        ) from None
    if plan.release_branch is not None and plan.release_branch_changes:
        try:
            git.commit_on_branch(
                plan.release_branch,
                plan.release_branch_head,
                {change.path: change.after for change in plan.release_branch_changes},
                f"chore: record forced release {plan.tag}\n",
            )
        except GitError as exc:
            raise ReleaseRefused(
                f"{plan.tag} was cut, but {plan.release_branch} was not brought in step ({exc}); "
                f"merge the release commit {commit[:12]} into {plan.release_branch} by hand"
            ) from None
    if plan.push_remote is not None:
        try:
            git.push(plan.push_remote, plan.push_refspecs)
        except GitError as exc:
            refs = " ".join(_short_ref(spec) for spec in plan.push_refspecs)
            raise PushFailed(
                f"{plan.tag} was created locally but not pushed ({exc}); "
                f"push it with: git push {plan.push_remote} {refs}"
            ) from None
    return ReleaseResult(plan=plan, commit=commit, pushed=plan.push_remote is not None)


def cut_release(
    repo: Path, options: CutOptions, confirm: Callable[[ReleasePlan], bool] | None = None
) -> ReleaseResult:
    """Plan the release, ask ``confirm`` (when given) and apply it (``relman version cut``).

    Raises what :func:`plan_release` and :func:`apply_release` raise, and
    :class:`ReleaseRefused` when ``confirm`` says no (nothing is written then).
    """
    plan = plan_release(repo, options)
    if confirm is not None and not confirm(plan):
        raise ReleaseRefused("release cancelled; nothing was written")
    return apply_release(plan)


def describe_plan(plan: ReleasePlan) -> str:
    """A human summary of ``plan`` for the confirmation prompt."""
    previous = plan.previous.name if plan.previous else "no earlier release"
    lines = [
        f"Release {plan.tag} (after {previous}; {len(plan.commits)} commit(s)) "
        f"on {plan.branch or 'a detached HEAD'}",
        "Files: " + (", ".join(change.path for change in plan.changes) or "none"),
    ]
    lines.extend(f"FORCED: {reason}" for reason in plan.forced)
    if plan.release_branch is not None and plan.release_branch_changes:
        shown = ", ".join(change.path for change in plan.release_branch_changes)
        lines.append(f"Also committed on {plan.release_branch}: {shown}")
    if plan.push_remote:
        lines.append(
            f"Push to {plan.push_remote}: "
            + ", ".join(_short_ref(spec) for spec in plan.push_refspecs)
        )
    return "\n".join(lines) + "\n\n" + plan.changelog_section


def _choose_version(
    git: Git, latest: ReleaseTag | None, kind: BumpKind, pre: PreLabel | None
) -> semver.Version:
    current = latest.version if latest else semver.Version(0, 0, 0)
    if kind is BumpKind.AUTO:
        raw = git.commits_since(latest.name if latest else None)
        if not raw and latest is not None and latest.version.prerelease:
            # Nothing since a release candidate: what comes next is its final version
            # (issue 15 item 11: after v1.2.3-rc.2, v1.2.3).
            return latest.version.finalize_version()
        if not raw:
            since = f"since {latest.name}" if latest else "in the repository"
            raise ReleaseRefused(f"nothing to release: no commits {since}")
        kind = auto_kind((parse_commit(c.sha, c.message) for c in raw), current)
    return next_version(current, kind, pre)


def _branch_changes(
    git: Git,
    head: str,
    version_files: list[str],
    changelog_path: str,
    version: semver.Version,
    section: str,
) -> list[FileChange]:
    """What a forced release writes on the release branch at ``head``: the version files
    it has (of those the release writes) set to ``version``, and ``section`` on top of its
    changelog. The release is the highest tag (a lower one is refused), so this never
    moves the branch's version back."""
    changes = []
    for path in version_files:
        before = git.show_file(head, path)
        if before is not None:
            after = rewrite(kind_of(path), before, version, path=path)
            changes.append(FileChange(path, before, after))
    before = git.show_file(head, changelog_path)
    changes.append(FileChange(changelog_path, before, insert_section(before, section)))
    return changes


def _candidates_of(git: Git, version: semver.Version) -> list[ReleaseTag]:
    """The prerelease tags of final ``version`` (v1.2.3-rc.1, -rc.2 for 1.2.3), oldest
    first; none for a prerelease ``version``."""
    if version.prerelease:
        return []
    return [
        tag
        for tag in git.release_tags()
        if tag.version.prerelease and tag.version.finalize_version() == version
    ]


def _changelog_base(
    git: Git, version: semver.Version, candidates: list[ReleaseTag]
) -> ReleaseTag | None:
    """The release a final ``version``'s changelog starts after: the highest tag below it
    that is not one of its ``candidates`` (``None``: from the first commit)."""
    skipped = {tag.name for tag in candidates}
    earlier = [t for t in git.release_tags() if t.version < version and t.name not in skipped]
    return earlier[-1] if earlier else None


def _short_ref(refspec: str) -> str:
    source = refspec.split(":", 1)[0]
    return source.removeprefix("refs/heads/").removeprefix("refs/tags/")


def _tag_message(tag: str, section: str, forced: list[str]) -> str:
    parts = [f"Release {tag}"]
    if forced:
        parts.append("Forced release (Принудительный релиз): " + "; ".join(forced) + ".")
    parts.append(section)
    return "\n\n".join(parts)


def _version_files(root: Path, files: tuple[str, ...] | None) -> list[str]:
    if files is None:
        return [name for name in DEFAULT_VERSION_FILES if (root / name).is_file()]
    paths = []
    for name in files:
        path = _inside(root, name, "file")
        kind_of(path)
        if not (root / path).is_file():
            raise InvalidInput("file", f"{name} does not exist in {root}")
        paths.append(path)
    return paths


def _version_file_change(root: Path, path: str, version: semver.Version) -> FileChange:
    before = _read(root, path, "file")
    assert before is not None
    return FileChange(path, before, rewrite(kind_of(path), before, version, path=path))


def _inside(root: Path, name: str, field_name: str) -> str:
    """``name`` as a path relative to ``root``; it must not lead outside the repository."""
    candidate = (root / name).resolve()
    try:
        return candidate.relative_to(root.resolve()).as_posix()
    except ValueError:
        raise InvalidInput(field_name, f"{name} is outside the repository {root}") from None


def _read(root: Path, relative: str, field_name: str) -> str | None:
    """The text of ``root / relative``, ``None`` when it does not exist; a directory, an
    unreadable or a non-UTF-8 file is :class:`InvalidInput` (field ``field_name``)."""
    # newline="" keeps CRLF files CRLF when they are written back.
    try:
        with (root / relative).open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise InvalidInput(field_name, f"{relative} is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(field_name, f"cannot read {relative}: {exc.strerror or exc}") from None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")


def _undo(
    git: Git, plan: ReleasePlan, written: list[FileChange], *, staged: bool, committed: bool
) -> None:
    """Put the repository back as :func:`plan_release` saw it (best effort, then the
    caller raises): undo the commit, unstage, restore the ``written`` files."""
    try:
        if committed:
            git.reset_soft(plan.head)
        if staged:
            git.unstage([change.path for change in plan.changes])
    finally:
        for change in written:
            target = plan.root / change.path
            if change.before is None:
                if target.is_file():  # not a directory that was in the way
                    target.unlink()
            else:
                _write(target, change.before)
