"""Reading a GitHub Actions runner's environment for ``relman ci …``.

Two things come from the environment (a mapping such as ``os.environ``):

* :class:`ApiSettings` — where the Release API is and how to authenticate: the base URL
  including the route prefix (``RELMAN_API_URL`` or seed 003's
  ``LOOM_RELEASE_TG_BOT_API_URL``, e.g. ``https://relman.example.com/api/tg-bot``), the
  bearer secret (``RELMAN_SECRET_KEY`` or ``LOOM_INTERSERVER_SECRET_KEY``, the same order
  the server reads them in), the GitHub Actions OIDC token request (see below), and the
  retry/timeout knobs.
* :class:`GitHubRun` — the run's identity from GitHub's default variables
  (``GITHUB_RUN_ID``, ``GITHUB_REF``, ``GITHUB_ACTOR``, ``GITHUB_SERVER_URL``,
  ``GITHUB_REPOSITORY``).

Inside GitHub Actions with ``permissions: id-token: write`` the runner sets
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; together with
``RELMAN_OIDC_AUDIENCE`` (the audience the server expects, the same name as its setting)
they make :attr:`ApiSettings.oidc`, and the client then authenticates with an OIDC token
instead of the secret, which may then be absent. Without all three the secret is used.

An empty variable counts as unset. A missing or malformed value raises
:class:`~relman.domain.errors.ConfigError` naming the variable; the secret's value is
never part of a message or a ``repr``, nor is the OIDC request token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from relman.domain.errors import ConfigError

#: Variables holding the Release API base URL, first found wins.
API_URL_VARS = ("RELMAN_API_URL", "LOOM_RELEASE_TG_BOT_API_URL")
#: Variables holding the bearer secret, first found wins (as in the server's settings).
SECRET_VARS = ("RELMAN_SECRET_KEY", "LOOM_INTERSERVER_SECRET_KEY")
#: Set by the runner for a job with ``permissions: id-token: write``.
OIDC_REQUEST_URL_VAR = "ACTIONS_ID_TOKEN_REQUEST_URL"
OIDC_REQUEST_TOKEN_VAR = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable's name
#: The audience to ask the runner's OIDC token for (the server's RELMAN_OIDC_AUDIENCE).
OIDC_AUDIENCE_VAR = "RELMAN_OIDC_AUDIENCE"
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
class OidcRequest:
    """How to ask the GitHub Actions runner for an OIDC token: ``GET request_url`` with
    ``audience`` added as a query parameter, authenticated by ``request_token``."""

    request_url: str
    request_token: str = field(repr=False)
    audience: str

    @property
    def token_url(self) -> str:
        """``request_url`` with ``audience=<url-encoded audience>`` appended to its query
        (GitHub's URL already has one, ``?api-version=…``)."""
        base = self.request_url
        separator = "&" if urlsplit(base).query else ("" if base.endswith("?") else "?")
        return f"{base}{separator}audience={quote(self.audience, safe='')}"

    @property
    def where(self) -> str:
        """The token endpoint's scheme and host (for messages; the path is not needed)."""
        parts = urlsplit(self.request_url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """How to reach the Release API.

    ``url`` is the base URL with the prefix and without a trailing slash; ``url_var`` and
    ``secret_var`` name the variables they came from (for error hints). ``secret`` is
    ``None`` only when ``oidc`` is set; with ``oidc`` the client sends an OIDC token
    instead of the secret. ``attempts`` ≥ 1, ``backoff`` ≥ 0 and ``timeout`` > 0 are in
    requests and seconds.
    """

    url: str
    url_var: str
    secret: str | None = field(repr=False)
    secret_var: str
    attempts: int = DEFAULT_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF
    timeout: float = DEFAULT_TIMEOUT
    oidc: OidcRequest | None = None

    @property
    def credential_hint(self) -> str:
        """What to check when the API refuses the credentials (401)."""
        if self.oidc is not None:
            return (
                f"{OIDC_AUDIENCE_VAR} (asked for {self.oidc.audience!r}) against the server's, "
                "and that the server accepts this repository's tokens"
            )
        return self.secret_var


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
    oidc = oidc_request(env)
    secret = _first(env, SECRET_VARS)
    if secret is None and oidc is None:
        raise ConfigError(
            f"{SECRET_VARS[1]} (or {SECRET_VARS[0]}) is not set: relman ci needs the "
            f"Release API's shared secret, or a GitHub OIDC token ({_why_no_oidc(env)})"
        )
    return ApiSettings(
        url=url_value.rstrip("/"),
        url_var=url_var,
        secret=secret[1] if secret else None,
        secret_var=secret[0] if secret else SECRET_VARS[1],
        attempts=int(_number(env, ATTEMPTS_VAR, DEFAULT_ATTEMPTS, low=1, integer=True)),
        backoff=_number(env, BACKOFF_VAR, DEFAULT_BACKOFF, low=0),
        timeout=_number(env, TIMEOUT_VAR, DEFAULT_TIMEOUT, low=0, low_open=True),
        oidc=oidc,
    )


def oidc_request(env: Mapping[str, str]) -> OidcRequest | None:
    """The runner's OIDC token request, when ``ACTIONS_ID_TOKEN_REQUEST_URL``,
    ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` and ``RELMAN_OIDC_AUDIENCE`` are all set; else
    ``None``. Raises :class:`ConfigError` when the request URL is not http(s)."""
    url = env.get(OIDC_REQUEST_URL_VAR, "").strip()
    token = env.get(OIDC_REQUEST_TOKEN_VAR, "").strip()
    audience = env.get(OIDC_AUDIENCE_VAR, "").strip()
    if not (url and token and audience):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{OIDC_REQUEST_URL_VAR}: expected an http(s) URL")
    return OidcRequest(request_url=url, request_token=token, audience=audience)


def _why_no_oidc(env: Mapping[str, str]) -> str:
    for name in (OIDC_AUDIENCE_VAR, OIDC_REQUEST_URL_VAR, OIDC_REQUEST_TOKEN_VAR):
        if not env.get(name, "").strip():
            if name == OIDC_AUDIENCE_VAR:
                return f"{name} is not set"
            return f"{name} is not set: the job needs permissions: id-token: write"
    return "not configured"  # pragma: no cover - oidc_request() would have found it


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


def write_outputs(env: Mapping[str, str], values: Mapping[str, str]) -> bool:
    """Append ``name=value`` lines to the step's ``$GITHUB_OUTPUT`` file (GitHub's
    "Setting an output parameter"), so later steps read ``steps.<id>.outputs.<name>``;
    False (nothing written) outside a runner. A value holding a new line is refused with
    :class:`ValueError` (it would forge another output)."""
    target = env.get("GITHUB_OUTPUT", "").strip()
    if not target:
        return False
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"output {name} holds a new line")
        lines.append(f"{name}={value}\n")
    with open(target, "a", encoding="utf-8") as out:
        out.write("".join(lines))
    return True
