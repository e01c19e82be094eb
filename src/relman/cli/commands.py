"""Core commands: serve, db, releases, config. Each parses, calls one function, renders."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

import relman.cli.analytics  # noqa: F401  (registers relman dora and relman incident)
from relman.cli import app, deploy, lock, release, web  # noqa: F401  (they register their commands)
from relman.cli import status as _status  # noqa: F401  (registers relman status)
from relman.cli._common import (
    JsonOption,
    add_data_row,
    console,
    fail,
    print_json,
    run,
    utc_text,
    with_container,
)
from relman.cli.ci import app as ci_app
from relman.cli.config import app as config_app
from relman.cli.init import app as init_app
from relman.cli.version import app as version_app
from relman.domain.errors import RelmanError
from relman.domain.status import ReleaseStatus

if TYPE_CHECKING:
    from relman.config import Settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
releases_app = typer.Typer(help="Read releases.", no_args_is_help=True)
bot_app = typer.Typer(help="The Telegram bot (seed 003).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(releases_app, name="releases")
app.add_typer(config_app, name="config")
app.add_typer(bot_app, name="bot")
app.add_typer(version_app, name="version")
app.add_typer(init_app, name="init")
app.add_typer(ci_app, name="ci")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply database migrations first (one replica at a time: an advisory lock "
            "on PostgreSQL, a file lock on SQLite).",
        ),
    ] = True,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Also run the deploy worker.")
    ] = True,
    polling: Annotated[
        bool,
        typer.Option("--polling", help="Receive Telegram updates by long polling (no public URL)."),
    ] = False,
) -> None:
    """Run the Release API server (uvicorn) and, by default, the deploy worker. With a
    Telegram token the bot runs too: webhook at {prefix}/update, or --polling."""
    from relman.config import load_settings

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(**overrides)
    settings.require_secret()
    if polling and settings.telegram_token is None:
        fail("--polling needs a Telegram token: set LOOM_RELEASE_TG_BOT_TOKEN")
    run(_serve(settings, migrate, worker, polling))


async def _serve(settings: Settings, migrate: bool, with_worker: bool, polling: bool) -> None:
    # The server's stack (FastAPI, uvicorn, the bot) is loaded only by this command.
    import asyncio

    import uvicorn

    from relman.api.app import create_app
    from relman.bootstrap import build
    from relman.config import redact_url
    from relman.store.db import ping, schema_state, upgrade

    container = build(settings)
    try:
        await ping(container.engine)
    except RelmanError:
        await container.aclose()
        raise
    if migrate:
        await upgrade(container.engine)
    else:
        state = await schema_state(container.engine)
        if state != "current":
            # /health answers 503 until then; say why here too, where the operator looks.
            console.print(
                f"warning: database schema {state}: run `relman db upgrade` "
                "(or start without --no-migrate); /health answers 503 until then",
                highlight=False,
                markup=False,
            )
    api = create_app(container, own_container=True, polling=polling)
    console.print(
        f"relman API on http://{settings.host}:{settings.port}{settings.prefix} "
        f"(database: {redact_url(settings.effective_database_url())})",
        highlight=False,
    )
    if api.state.bot is None:
        console.print("Telegram bot: off (no LOOM_RELEASE_TG_BOT_TOKEN)", highlight=False)
    elif polling:
        console.print(
            f"Telegram bot: long polling {redact_url(settings.telegram_api_url)}", highlight=False
        )
    else:
        console.print(
            f"Telegram bot: webhook at {settings.prefix}/update "
            "(register it with `relman bot set-webhook URL`)",
            highlight=False,
        )
    server = uvicorn.Server(
        uvicorn.Config(
            api, host=settings.host, port=settings.port, log_level="info", access_log=False
        )
    )
    stop = asyncio.Event()
    worker_task = asyncio.create_task(container.worker().run(stop)) if with_worker else None
    try:
        await server.serve()
    finally:
        stop.set()
        if worker_task is not None:
            await worker_task


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest revision."""
    from relman.config import load_settings, redact_url
    from relman.store.db import upgrade

    settings = load_settings()
    run(with_container(lambda c: upgrade(c.engine), settings))
    console.print(
        f"database up to date: {redact_url(settings.effective_database_url())}", highlight=False
    )


@releases_app.command("list")
def releases_list(
    group: Annotated[str | None, typer.Option(help="active, successful or failed")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    status: Annotated[ReleaseStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many (1..200).")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List releases, newest first."""
    from rich.table import Table

    page = run(
        with_container(
            lambda c: c.releases.list(group=group, service=service, status=status, limit=limit)
        )
    )
    if as_json:
        # GET {prefix}/release's shape: the same fields, and the cursor of the next page.
        from relman.api.schemas import ReleaseList, ReleaseOut

        print_json(
            ReleaseList(
                releases=[ReleaseOut.of(r) for r in page.releases], next_cursor=page.next_cursor
            ).model_dump(mode="json")
        )
        return
    table = Table("id", "service", "tag", "status", "initiated by", "created")
    for r in page.releases:
        add_data_row(
            table,
            str(r.id),
            r.service_name,
            r.release_tag,
            r.status.value,
            r.initiated_by,
            utc_text(r.created_at),
        )
    console.print(table)


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration; secrets are masked."""
    from rich.table import Table

    from relman.config import load_config, load_settings, redact_url

    settings = load_settings()
    config = load_config(settings.config_file)
    rows = {
        "database": redact_url(settings.effective_database_url()),
        "listen": f"{settings.host}:{settings.port}",
        "prefix": settings.prefix or "/",
        "api secret": "set" if settings.secret_key else "NOT SET",
        "telegram token": "set" if settings.telegram_token else "not set (bot off)",
        "telegram api": redact_url(settings.telegram_api_url),
        "telegram chats": f"qa {settings.telegram_qa_chat_id or '—'}, "
        f"team {settings.telegram_team_chat_id or settings.telegram_qa_chat_id or '—'}",
        "config file": f"{settings.config_file} "
        f"({'found' if settings.config_file.exists() else 'absent'})",
        "services": ", ".join(config.services) or "—",
        "environments": ", ".join(config.environments) or "—",
        "hosts": ", ".join(config.hosts) or "—",
        "log root": str(settings.log_root),
        "evidence root": str(settings.evidence_root),
    }
    table = Table("setting", "value", show_header=False)
    for key, value in rows.items():
        add_data_row(table, key, value)
    console.print(table)


@config_app.command("init-env")
def config_init_env(
    path: Annotated[Path, typer.Option(help="File to create.")] = Path(".env"),
) -> None:
    """Create a .env with a freshly generated API secret (refuses to overwrite)."""
    if path.exists():
        fail(f"{path} exists; not overwriting it")
    try:
        # Created private from the start: the secret is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(
                "# relman settings (see README). Keep this file private.\n"
                f"LOOM_INTERSERVER_SECRET_KEY={secrets.token_urlsafe(32)}\n"
            )
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    console.print(
        f"wrote {path} with a new API secret (LOOM_INTERSERVER_SECRET_KEY)", highlight=False
    )


@bot_app.command("set-webhook")
def bot_set_webhook(
    url: Annotated[str, typer.Argument(help="Public https URL of POST {prefix}/update.")],
    drop_pending_updates: Annotated[
        bool, typer.Option(help="Forget updates Telegram is still holding.")
    ] = False,
) -> None:
    """Tell Telegram to POST updates to URL, with relman's secret header."""
    from relman.bot.registration import register_webhook
    from relman.config import load_settings

    settings = load_settings()
    run(register_webhook(settings, url, drop_pending_updates=drop_pending_updates))
    console.print(f"Telegram webhook set: {url}", highlight=False, markup=False)
    if not url.rstrip("/").endswith(f"{settings.prefix}/update"):
        console.print(f"note: relman receives updates at {settings.prefix}/update", highlight=False)


@bot_app.command("delete-webhook")
def bot_delete_webhook() -> None:
    """Remove the webhook (Telegram then holds updates for polling)."""
    from relman.bot.registration import unregister_webhook
    from relman.config import load_settings

    run(unregister_webhook(load_settings()))
    console.print("Telegram webhook deleted", highlight=False)
