"""``relman config …``: configuration that explains itself (issue 15 items 7, 8, 12).

``schema`` (JSON Schema of relman.toml for editors), ``reference`` (docs/configuration.md),
``check`` (every host reached and checked), ``import-servers`` (the seed's .env.servers as
relman.toml). ``show`` and ``init-env`` live in :mod:`relman.cli.commands` and register on
the same group. Each command parses, calls one function, renders; the application is
imported inside the commands (``--help`` stays light, tests/unit/cli/test_startup.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from relman.cli._common import add_data_row, console, fail, refusals, run

app = typer.Typer(help="Show, check or create configuration.", no_args_is_help=True)


@app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of relman.toml (for editors: Taplo, VS Code Even Better TOML)."""
    from relman.config_reference import config_schema as schema

    typer.echo(schema(), nl=False)


@app.command("reference")
def config_reference(
    output: Annotated[
        Path | None, typer.Option(help="Write it to this file (docs/configuration.md).")
    ] = None,
) -> None:
    """Print the reference of every environment variable and relman.toml key (Markdown),
    generated from the settings' descriptions."""
    from relman.config_reference import reference_markdown

    text = reference_markdown()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    console.print(f"wrote {output}", highlight=False, markup=False)


@app.command("check")
def config_check(
    service: Annotated[str | None, typer.Argument(help="Only this service.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Load the configuration and check every host: connect (host key pinned, login), the
    service's workdir, git, docker and compose for compose services, the health URL's
    shape. Exit 0 when all pass, 1 when one fails, 2 for a configuration error."""
    from relman.config import load_config, load_settings
    from relman.services.config_check import check_config

    with refusals():
        config = load_config(load_settings().config_file)
    report = run(check_config(config, service=service, environment=env))
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": report.ok, "checks": [c.as_dict() for c in report.checks]},
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        from rich.table import Table

        table = Table("environment", "host", "service", "check", "result")
        table.add_column("detail", overflow="fold")  # a path or URL shown whole
        for c in report.checks:
            add_data_row(
                table, c.environment, c.host, c.service or "—", c.name, _result(c.ok), c.detail
            )
        console.print(table)
        if not report.checks:
            console.print("no hosts to check: relman.toml names none", highlight=False)
        else:
            failed = sum(not c.ok for c in report.checks)
            console.print(f"{len(report.checks) - failed} passed, {failed} failed", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def _result(ok: bool) -> str:
    return "ok" if ok else "FAIL"


@app.command("import-servers")
def config_import_servers(
    file: Annotated[Path, typer.Argument(help="The seed's .env.servers file.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write relman.toml tables to this file."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --output when it exists.")] = False,
    user: Annotated[str, typer.Option(help="SSH user of hosts the file names none for.")] = "root",
    known_hosts: Annotated[
        str, typer.Option(help="known_hosts file that pins the hosts' keys.")
    ] = "/etc/relman/known_hosts",
) -> None:
    """Turn FILE into relman.toml [hosts.*] and [environments.*] tables: printed, or
    written to --output (not over an existing file without --force), then what to edit.

    stage, production and dev:developerN (owner = "developerN"); passwords are never
    printed: a host gets password_env, the variable relman reads when it connects.
    """
    from relman.servers_import import import_servers, import_servers_file, next_steps

    if output is None:
        with refusals():
            text = import_servers(file, user=user, known_hosts=known_hosts)
        typer.echo(text, nl=False)
        return
    with refusals():
        imported = import_servers_file(
            file, user=user, known_hosts=known_hosts, output=output, force=force
        )
    console.print(f"wrote {output}", highlight=False, markup=False)
    for line in next_steps(output, imported, known_hosts=known_hosts):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
