"""Shared pieces of the CLI: one console, error translation, running coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from relman.bootstrap import Container, build
from relman.config import Settings, load_settings
from relman.domain.errors import RelmanError
from relman.store.db import ping

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

#: Exit code for a user's mistake or a refusal (bad input, bad config, illegal transition).
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error to stderr and exit with ``code`` (2 by default)."""
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
    with refusals():
        return asyncio.run(coro)


async def with_container(
    use: Callable[[Container], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Wire relman (from ``settings`` or the environment), check the database answers,
    run ``use`` and close everything again."""
    container = build(settings or load_settings())
    try:
        await ping(container.engine)
        return await use(container)
    finally:
        await container.aclose()


def add_data_row(table: Table, *cells: str) -> None:
    """Add a row of plain-text cells: a service name, tag, note or error holding ``[...]``
    is shown as is, never read as rich markup (which could also fail to parse)."""
    table.add_row(*(Text(cell) for cell in cells))
