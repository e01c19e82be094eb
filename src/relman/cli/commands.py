"""Core commands: serve, db, releases, config. Each parses, calls one function, renders."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.table import Table

from relman.bootstrap import build
from relman.cli import app, deploy  # noqa: F401  (deploy registers its commands)
from relman.cli._common import add_data_row, console, fail, run, with_container
from relman.cli.init import app as init_app
from relman.cli.version import app as version_app
from relman.config import Settings, load_settings, redact_url
from relman.domain.errors import RelmanError
from relman.domain.status import ReleaseStatus
from relman.store.db import ping, upgrade

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
releases_app = typer.Typer(help="Read releases.", no_args_is_help=True)
config_app = typer.Typer(help="Show or create configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(releases_app, name="releases")
app.add_typer(config_app, name="config")
app.add_typer(version_app, name="version")
app.add_typer(init_app, name="init")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = False,
) -> None:
    """Run the Release API server (uvicorn)."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(**overrides)
    settings.require_secret()
    run(_serve(settings, migrate))


async def _serve(settings: Settings, migrate: bool) -> None:
    from relman.api.app import create_app

    container = build(settings)
    try:
        await ping(container.engine)
    except RelmanError:
        await container.aclose()
        raise
    if migrate:
        await upgrade(container.engine)
    api = create_app(container, own_container=True)
    console.print(
        f"relman API on http://{settings.host}:{settings.port}{settings.prefix} "
        f"(database: {redact_url(settings.effective_database_url())})",
        highlight=False,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            api, host=settings.host, port=settings.port, log_level="info", access_log=False
        )
    )
    await server.serve()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest revision."""
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
) -> None:
    """List releases, newest first."""
    page = run(
        with_container(
            lambda c: c.releases.list(group=group, service=service, status=status, limit=limit)
        )
    )
    table = Table("id", "service", "tag", "status", "initiated by", "created (UTC)")
    for r in page.releases:
        add_data_row(
            table,
            str(r.id),
            r.service_name,
            r.release_tag,
            r.status.value,
            r.initiated_by,
            f"{r.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@releases_app.command("show")
def releases_show(release_id: Annotated[int, typer.Argument(help="Release id.")]) -> None:
    """Show one release and its audit timeline."""
    release = run(with_container(lambda c: c.releases.get(release_id)))
    console.print(
        f"#{release.id} {release.service_name} {release.release_tag} — "
        f"{release.status.value} (initiated by {release.initiated_by})",
        highlight=False,
        markup=False,
    )
    table = Table("time (UTC)", "from", "to", "actor", "source", "after", "note")
    previous = None
    for e in release.events:
        after = "" if previous is None else f"{(e.created_at - previous).total_seconds():.1f}s"
        previous = e.created_at
        add_data_row(
            table,
            f"{e.created_at:%Y-%m-%d %H:%M:%S}",
            e.from_status or "—",
            e.to_status,
            e.actor,
            e.source.value,
            after,
            e.note,
        )
    console.print(table)


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration; secrets are masked."""
    settings = load_settings()
    from relman.config import load_config

    config = load_config(settings.config_file)
    rows = {
        "database": redact_url(settings.effective_database_url()),
        "listen": f"{settings.host}:{settings.port}",
        "prefix": settings.prefix or "/",
        "api secret": "set" if settings.secret_key else "NOT SET",
        "telegram token": "set" if settings.telegram_token else "not set (bot off)",
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
