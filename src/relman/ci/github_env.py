"""Reading a GitHub Actions runner's environment for ``relman ci …``.

Two things come from the environment (a mapping such as ``os.environ``):

* :class:`ApiSettings` — where the Release API is and how to authenticate: the base URL
  including the route prefix (``RELMAN_API_URL`` or seed 003's
  ``LOOM_RELEASE_TG_BOT_API_URL``, e.g. ``https://relman.example.com/api/tg-bot``), the
  bearer secret (``RELMAN_SECRET_KEY`` or ``LOOM_INTERSERVER_SECRET_KEY``, the same order
  the server reads them in), and the retry/timeout knobs.
* :class:`GitHubRun` — the run's identity from GitHub's default variables
  (``GITHUB_RUN_ID``, ``GITHUB_REF``, ``GITHUB_ACTOR``, ``GITHUB_SERVER_URL``,
  ``GITHUB_REPOSITORY``).

An empty variable counts as unset. A missing or malformed value raises
:class:`~relman.domain.errors.ConfigError` naming the variable; the secret's value is
never part of a message or a ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from relman.domain.errors import ConfigError

#: Variables holding the Release API base URL, first found wins.
API_URL_VARS = ("RELMAN_API_URL", "LOOM_RELEASE_TG_BOT_API_URL")
#: Variables holding the bearer secret, first found wins (as in the server's settings).
SECRET_VARS = ("RELMAN_SECRET_KEY", "LOOM_INTERSERVER_SECRET_KEY")
#: How many times a request is tried when the connection fails (default 5).
ATTEMPTS_VAR = "RELMAN_API_ATTEMPTS"
#: Seconds before the first retry; doubled after each further failure (default 1).
BACKOFF_VAR = "RELMAN_API_BACKOFF"
#: Seconds one request may take (connect, send, wait for the answer; default 30).
TIMEOUT_VAR = "RELMAN_API_TIMEOUT"

DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF = 1.0
DEFAULT_TIMEOUT = 30.0
GITHUB_SERVER_DEFAULT = "https://github.com"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """How to reach the Release API.

    ``url`` is the base URL with the prefix and without a trailing slash; ``url_var`` and
    ``secret_var`` name the variables they came from (for error hints). ``attempts`` ≥ 1,
    ``backoff`` ≥ 0 and ``timeout`` > 0 are in requests and seconds.
    """

    url: str
    url_var: str
    secret: str = field(repr=False)
    secret_var: str
    attempts: int = DEFAULT_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class GitHubRun:
    """The workflow run ``relman ci`` runs in; empty strings where GitHub set nothing."""

    run_id: str = ""
    ref: str = ""
    actor: str = ""
    server_url: str = GITHUB_SERVER_DEFAULT
    repository: str = ""

    @property
    def action_link(self) -> str:
        """``{server}/{owner/repo}/actions/runs/{run_id}``, or ``""`` when the repository
        or the run id is unknown."""
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"

    def require_actor(self) -> str:
        """The GitHub login that started the run; :class:`ConfigError` naming
        ``GITHUB_ACTOR`` when it is not set."""
        if not self.actor:
            raise ConfigError(_missing("GITHUB_ACTOR", "the GitHub login that started the run"))
        return self.actor

    def require_run_id(self) -> str:
        """The run's id; :class:`ConfigError` naming ``GITHUB_RUN_ID`` when it is not set."""
        if not self.run_id:
            raise ConfigError(_missing("GITHUB_RUN_ID", "the id of the workflow run"))
        return self.run_id

    @property
    def audit_actor(self) -> str:
        """``gh:<login>`` for audit rows and deploy locks (see :meth:`require_actor`)."""
        return f"gh:{self.require_actor()}"


def _missing(name: str, what: str) -> str:
    return f"{name} is not set: relman ci needs {what} (GitHub Actions sets it on a runner)"


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def github_run(env: Mapping[str, str]) -> GitHubRun:
    """The run described by GitHub's default variables in ``env`` (nothing is required
    here; use :meth:`GitHubRun.require_actor` and friends)."""
    return GitHubRun(
        run_id=env.get("GITHUB_RUN_ID", "").strip(),
        ref=env.get("GITHUB_REF", "").strip(),
        actor=env.get("GITHUB_ACTOR", "").strip(),
        server_url=env.get("GITHUB_SERVER_URL", "").strip() or GITHUB_SERVER_DEFAULT,
        repository=env.get("GITHUB_REPOSITORY", "").strip(),
    )


def api_settings(env: Mapping[str, str]) -> ApiSettings:
    """The Release API settings in ``env``.

    Raises :class:`ConfigError` naming the variable when no URL or secret is set, when the
    URL is not ``http(s)://host[:port][/prefix]``, or when a retry/timeout knob is not a
    number in range.
    """
    url = _first(env, API_URL_VARS)
    if url is None:
        raise ConfigError(
            f"{API_URL_VARS[1]} (or {API_URL_VARS[0]}) is not set: relman ci needs the "
            "Release API base URL with its prefix, e.g. https://relman.example.com/api/tg-bot"
        )
    url_var, url_value = url
    parts = urlsplit(url_value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{url_var}: expected http(s)://host[:port]/prefix, "
            f"e.g. https://relman.example.com/api/tg-bot"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{url_var}: the base URL must not have a query or a fragment")
    secret = _first(env, SECRET_VARS)
    if secret is None:
        raise ConfigError(
            f"{SECRET_VARS[1]} (or {SECRET_VARS[0]}) is not set: relman ci needs the "
            "Release API's shared secret"
        )
    return ApiSettings(
        url=url_value.rstrip("/"),
        url_var=url_var,
        secret=secret[1],
        secret_var=secret[0],
        attempts=int(_number(env, ATTEMPTS_VAR, DEFAULT_ATTEMPTS, low=1, integer=True)),
        backoff=_number(env, BACKOFF_VAR, DEFAULT_BACKOFF, low=0),
        timeout=_number(env, TIMEOUT_VAR, DEFAULT_TIMEOUT, low=0, low_open=True),
    )


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    low: float,
    low_open: bool = False,
    integer: bool = False,
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{name}: {raw!r} is not {kind}") from None
    if not math.isfinite(value) or value < low or (low_open and value == low):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise ConfigError(f"{name}: must be {bound}, got {raw}")
    return value
