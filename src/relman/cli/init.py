"""``relman init …``: set up a service repository for relman."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relman.cli._common import console, refusals

app = typer.Typer(name="init", help="Set up a service repository for relman.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Set up a service repository for relman."""


@app.command("github")
def github_command(
    path: Annotated[
        Path, typer.Option("--path", help="The service repository (default: current directory).")
    ] = Path("."),
    service: Annotated[
        str | None, typer.Option("--service", help="Service name (default: directory name).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write the GitHub Actions workflows (work branch → dev, tag → stage, approval →
    production, CI gates) into .github/workflows/."""
    from relman.versioning import init_github

    with refusals():
        written = init_github(path, service, force)
    for target in written:
        console.print(f"wrote {target}", highlight=False, markup=False, soft_wrap=True)
