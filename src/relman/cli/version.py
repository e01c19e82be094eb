"""``relman version …``: next version, cut a release, image tags, tag check (seed 004).

Each command parses its options, calls one function of :mod:`relman.versioning` and
prints; a :class:`~relman.domain.errors.RelmanError` becomes a one-line error, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from relman.cli._common import console, refusals
from relman.versioning.bump import BumpKind, PreLabel  # option types: pure enums

if TYPE_CHECKING:
    from relman.versioning import ReleasePlan

app = typer.Typer(
    name="version",
    help="Versions and releases: next version, cut a release, image tags, tag check.",
    no_args_is_help=True,
)

RepoOption = Annotated[
    Path, typer.Option("--repo", help="The git repository (default: the current directory).")
]
PreOption = Annotated[
    PreLabel | None,
    typer.Option("--pre", help="Make it a prerelease with this label (X.Y.Z-LABEL.N)."),
]


@app.command("next")
def next_command(
    kind: Annotated[
        BumpKind, typer.Argument(help="What to bump; auto decides from the commits.")
    ] = BumpKind.AUTO,
    pre: PreOption = None,
    repo: RepoOption = Path("."),
    all_kinds: Annotated[
        bool,
        typer.Option("--all", help="Print every choice: one 'KIND VERSION' line per bump kind."),
    ] = False,
) -> None:
    """Print the version after the latest vX.Y.Z tag (0.0.0 when there is none); after a
    release candidate, its final version unless commits since ask for more."""
    from relman.versioning import next_release_choices, next_release_version

    with refusals():
        if all_kinds:
            for choice, version in next_release_choices(repo, pre):
                shown = str(version) if version is not None else "-"
                console.print(
                    f"{choice.value} {shown}", highlight=False, markup=False, soft_wrap=True
                )
            return
        version = next_release_version(repo, kind, pre)
    console.print(str(version), highlight=False, markup=False, soft_wrap=True)


@app.command("cut")
def cut_command(
    bump: Annotated[BumpKind | None, typer.Option("--bump", help="What to bump.")] = None,
    pre: PreOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Release exactly this version.")
    ] = None,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            help="Version file to update (repeatable; default: "
            "pyproject.toml and package.json if present).",
        ),
    ] = None,
    changelog: Annotated[str, typer.Option("--changelog", help="Changelog file.")] = "CHANGELOG.md",
    push: Annotated[bool, typer.Option("--push", help="Push the branch and the tag.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Allow a release off the release branch "
            "(recorded in the tag as a forced release).",
        ),
    ] = False,
    remote: Annotated[str, typer.Option("--remote", help="Remote to push to.")] = "origin",
    release_branch: Annotated[
        str, typer.Option("--release-branch", help="The branch releases are cut from.")
    ] = "main",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-interactive",
            help="Ask questions (default: when stdin is a terminal).",
        ),
    ] = None,
    repo: RepoOption = Path("."),
) -> None:
    """Cut a release: version files, CHANGELOG.md, commit, annotated tag vX.Y.Z, push."""
    from relman.versioning import CutOptions, cut_release

    asking = sys.stdin.isatty() if interactive is None else interactive
    if asking and bump is None and version is None:
        bump = typer.prompt("Bump", default=BumpKind.AUTO, type=BumpKind)
    options = CutOptions(
        bump=bump,
        pre=pre,
        version=version,
        files=tuple(files) if files else None,
        changelog=changelog,
        push=push,
        force=force,
        remote=remote,
        release_branch=release_branch,
    )
    with refusals():
        result = cut_release(repo, options, confirm=_ask if asking and not yes else None)
    plan = result.plan
    console.print(
        f"Released {plan.tag} (commit {result.commit[:7]})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for reason in plan.forced:
        console.print(f"forced: {reason}", highlight=False, markup=False, soft_wrap=True)
    if plan.release_branch is not None and plan.release_branch_changes:
        shown = ", ".join(change.path for change in plan.release_branch_changes)
        console.print(
            f"{plan.release_branch} kept in step: {shown}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if result.pushed:
        console.print(
            f"Pushed to {plan.push_remote}", highlight=False, markup=False, soft_wrap=True
        )


def _ask(plan: ReleasePlan) -> bool:
    from relman.versioning import describe_plan

    console.print(describe_plan(plan), highlight=False, markup=False, soft_wrap=True)
    return typer.confirm(f"Cut {plan.tag}?", default=False)


@app.command("image-tags")
def image_tags_command(
    version: Annotated[str, typer.Argument(help="The release version (1.2.3 or v1.2.3).")],
    sha: Annotated[str, typer.Option("--sha", help="The release commit sha.")],
) -> None:
    """Print the docker image tags of a release, one per line."""
    from relman.versioning import image_tags

    with refusals():
        tags = image_tags(version, sha)
    for tag in tags:
        console.print(tag, highlight=False, markup=False, soft_wrap=True)


@app.command("check-tag")
def check_tag_command(
    tag: Annotated[str, typer.Argument(help="The git tag, e.g. v1.2.3.")],
) -> None:
    """Exit 0 for a release tag (v + SemVer), 2 with a message otherwise."""
    from relman.versioning import check_tag

    with refusals():
        version = check_tag(tag)
    console.print(
        f"{tag}: release tag of version {version}", highlight=False, markup=False, soft_wrap=True
    )
