"""The ``relman`` command line. Commands parse, call one service function, render.

Start-up is kept short (issue 10): the command modules import the application inside
their commands, and :func:`main` registers only the module of the command being run when
that module stands alone (:data:`ALONE`), e.g. ``relman deploy …`` builds the ``deploy``
and ``rollback`` commands and nothing else.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

app = typer.Typer(
    name="relman",
    help="relman — release manager: tag → stage → QA approval → production, with rollback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    # Plain (click) help and usage errors: typer's rich help loads rich's markdown,
    # syntax highlighting and traceback modules, which doubled the time `--help` takes.
    rich_markup_mode=None,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        print(f"relman {version('relman')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print relman's version (the installed package's) and exit.",
        ),
    ] = False,
) -> None:
    # relman's own options; the help text is the Typer's above.
    pass


#: Top-level commands whose module registers them without the others: name → module.
ALONE = {
    "deploy": "relman.cli.deploy",
    "rollback": "relman.cli.deploy",
    "lock": "relman.cli.lock",
    "status": "relman.cli.status",
    "release": "relman.cli.release",
    "worker": "relman.cli.release",
    "demo": "relman.cli.release",
}


def register(args: Sequence[str]) -> None:
    """Register on :data:`app` what running ``args`` (the arguments after ``relman``)
    needs: the module of the command named first when it is in :data:`ALONE`, else every
    command (for ``relman --help``, the other commands and a mistyped name)."""
    module = ALONE.get(args[0]) if args else None
    importlib.import_module(module or "relman.cli.commands")


def main() -> None:
    """Console-script entry point: a relman error outside a command is one line, exit 2."""
    from relman.domain.errors import RelmanError

    register(sys.argv[1:])
    try:
        app()
    except RelmanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
