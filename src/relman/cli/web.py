"""``relman web login-link``: a one-time sign-in link to the dashboard for the person at the
server's shell (issue 13 item 2). Light at import: the web stack is not loaded."""

from __future__ import annotations

from typing import Annotated

import typer

from relman.cli import app
from relman.cli.deploy import cli_actor

web_app = typer.Typer(help="The web dashboard.", no_args_is_help=True)
app.add_typer(web_app, name="web")


@web_app.command("login-link")
def login_link(
    base_url: Annotated[
        str | None,
        typer.Option(
            help="The dashboard's http(s) address, as RELMAN_PUBLIC_URL "
            "(default: that, else where relman serve listens)."
        ),
    ] = None,
) -> None:
    """Print a link that signs you in to the dashboard as cli:$RELMAN_ACTOR (or cli:<OS
    user>). It works once, for 5 minutes."""
    from datetime import UTC, datetime

    from relman.cli._common import refusals
    from relman.config import load_settings
    from relman.web.signin import settings_link

    with refusals():
        # checked like RELMAN_PUBLIC_URL: an http(s) URL, never javascript: or a bare word
        settings = load_settings(**({"public_url": base_url} if base_url else {}))
        typer.echo(settings_link(settings, cli_actor(), now=datetime.now(UTC)))
