"""Shared pieces of the CLI: one console, error translation, running coroutines.

Building the command tree and printing ``--help`` must stay quick, so the CLI modules
import only typer and relman's framework-free domain modules at the top; the application
(settings, database, services, HTTP clients) and rich are imported inside the command
functions that use them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, cast

import typer

from relman.domain.errors import RelmanError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from relman.bootstrap import Container
    from relman.config import Settings

T = TypeVar("T")


#: Columns of the console when stdout is no terminal and ``COLUMNS`` is unset.
PIPE_WIDTH = 200


class _ConsoleOnFirstUse:
    """Stands for a rich ``Console(**options)``, made when first used (an attribute is
    read): rich's console is a large import that ``--help`` does without."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def made(self) -> Console:
        """The console itself."""
        if self._console is None:
            from rich.console import Console

            console = Console(**self._options)
            if not console.is_terminal and "COLUMNS" not in os.environ:
                # Piped into a file or a CI log: no screen to fit, so a table keeps its
                # shas, times and notes whole instead of folding them at rich's 80 columns.
                console.width = PIPE_WIDTH
            self._console = console
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)


_stdout = _ConsoleOnFirstUse()
#: Where commands print, and where errors go. Typed as what they stand for; only what
#: needs the object itself (rich's Live uses it as a context manager) takes
#: :func:`live_console`.
console = cast("Console", _stdout)
err_console = cast("Console", _ConsoleOnFirstUse(stderr=True))


def live_console() -> Console:
    """The stdout console itself (not its stand-in), for rich's ``Live``."""
    return _stdout.made()


#: Exit code for a user's mistake or a refusal (bad input, bad config, illegal transition).
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error to stderr and exit with ``code`` (2 by default)."""
    from rich.markup import escape

    # Escaped: "[project].version" or git's "[rejected]" must show as they are.
    err_console.print(
        f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


@contextmanager
def refusals() -> Iterator[None]:
    """Inside it, a :class:`RelmanError` becomes a one-line error and exit code 2."""
    try:
        yield
    except RelmanError as exc:
        fail(str(exc))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion; a :class:`RelmanError` becomes a one-line error, exit 2."""
    import asyncio  # imported when a command runs: --help does not need an event loop

    with refusals():
        return asyncio.run(coro)


def cli_settings() -> Settings:
    """The settings from the environment and ``.env``; a bad value is a one-line error
    naming its variable, exit 2."""
    from relman.config import load_settings

    with refusals():
        return load_settings()


async def with_container(
    use: Callable[[Container], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Wire relman (from ``settings`` or the environment), check the database answers,
    run ``use`` and close everything again."""
    from relman.bootstrap import build
    from relman.config import load_settings
    from relman.store.db import ping

    container = build(settings or load_settings())
    try:
        await ping(container.engine)
        return await use(container)
    finally:
        await container.aclose()


#: ``--json`` on a command that shows something: one JSON document on stdout, nothing else.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def print_json(data: object) -> None:
    """Print ``data`` as one JSON document on stdout (UTF-8, indented), bypassing rich so
    nothing is wrapped, highlighted or read as markup. Times go through :func:`utc_json`."""
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def utc_text(when: datetime | None) -> str:
    """The CLI's one time format for people: UTC to the second, ``2026-12-02 19:30:05 UTC``
    (``""`` for no time). A naive ``when`` is taken as UTC."""
    if when is None:
        return ""
    return f"{_as_utc(when):%Y-%m-%d %H:%M:%S} UTC"


def utc_json(when: datetime | None) -> str | None:
    """The same instant for ``--json``: ISO 8601 in UTC to the second,
    ``2026-12-02T19:30:05Z`` (``None`` for no time)."""
    if when is None:
        return None
    return f"{_as_utc(when):%Y-%m-%dT%H:%M:%SZ}"


def _as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def add_data_row(table: Table, *cells: str) -> None:
    """Add a row of plain-text cells: a service name, tag, note or error holding ``[...]``
    is shown as is, never read as rich markup (which could also fail to parse)."""
    from rich.text import Text

    table.add_row(*(Text(cell) for cell in cells))
