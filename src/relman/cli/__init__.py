"""The ``relman`` command line. Commands parse, call one service function, render."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="relman",
    help="relman — release manager: tag → stage → QA approval → production, with rollback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main() -> None:
    """Console-script entry point: a relman error outside a command is one line, exit 2."""
    from relman.cli import commands  # noqa: F401  (registers the commands on `app`)
    from relman.domain.errors import RelmanError

    try:
        app()
    except RelmanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
