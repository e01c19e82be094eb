"""Configuration: server settings from the environment, targets and policy from relman.toml.

Server settings (:class:`Settings`) come from ``RELMAN_*`` variables, the seed's
``LOOM_RELEASE_TG_BOT_*`` / ``LOOM_INTERSERVER_SECRET_KEY`` names (seed 003, "Конфигурация
сервиса"), ``DATABASE_URL``, or a ``.env`` file in the working directory. Services,
environments, hosts and the approval policy live in ``relman.toml`` (:class:`RelmanConfig`).

Secrets are :class:`pydantic.SecretStr`: they print as ``**********`` and are only unwrapped
where they are used.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from relman.domain.errors import ConfigError
from relman.domain.policy import Roles

SQLITE_DEFAULT_URL = "sqlite+aiosqlite:///./relman.db"
#: Shortest operator and HMAC secret relman starts with (characters; DESIGN.md §5).
MIN_SECRET_LENGTH = 32


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Server settings. Each field lists the environment variables it is read from (the
    first one is relman's own name, the others the seed's); ``description`` is what
    ``docs/configuration.md`` says about it (:mod:`relman.config_reference`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=_env("RELMAN_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL of relman's database: `postgresql://…` (the asyncpg "
        "driver is added) or `sqlite:///path`. Default: the seed's PostgreSQL variables "
        "below when a host is set, else the embedded SQLite file `./relman.db`.",
    )
    postgres_host: str | None = Field(
        default=None,
        validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_CONTAINER_NAME"),
        description="The seed's PostgreSQL host (seed 003); used when no database URL is given.",
    )
    postgres_db: str = Field(
        default="releases",
        validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_DB_NAME"),
        description="The seed's PostgreSQL database name.",
    )
    postgres_user: str = Field(
        default="postgres",
        validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_USER"),
        description="The seed's PostgreSQL user.",
    )
    postgres_password: SecretStr | None = Field(
        default=None,
        validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_PASSWORD"),
        description="The seed's PostgreSQL password (secret).",
    )

    host: str = Field(
        default="127.0.0.1",
        validation_alias=_env("RELMAN_HOST"),
        description="Address `relman serve` listens on.",
    )
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        validation_alias=_env("RELMAN_PORT", "LOOM_RELEASE_TG_BOT_PORT"),
        description="Port `relman serve` listens on (1..65535).",
    )
    prefix: str = Field(
        default="/api/tg-bot",
        validation_alias=_env("RELMAN_PREFIX", "LOOM_RELEASE_TG_BOT_PREFIX"),
        description="URL path the Release API's routes live under (seed 003).",
    )
    web_prefix: str = Field(
        default="",
        validation_alias=_env("RELMAN_WEB_PREFIX"),
        description="URL path the web dashboard is served at (empty: the site's root); "
        "not inside the API's prefix.",
    )
    public_url: str | None = Field(
        default=None,
        validation_alias=_env("RELMAN_PUBLIC_URL"),
        description="The dashboard's address as people open it (behind a proxy, with "
        "https), used in sign-in links. Default: the listen address.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_SECRET_KEY", "LOOM_INTERSERVER_SECRET_KEY"),
        description="The inter-server API secret CI sends as `Authorization: Bearer …`; "
        "it may create releases and report statuses, never decide. `relman serve` refuses "
        "to start without it (`relman config init-env` makes one).",
    )
    operator_secret: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_OPERATOR_SECRET"),
        description=f"The API secret that may relay a person's decision (approve, reject, "
        f"rollback, retry); at least {MIN_SECRET_LENGTH} characters and not the "
        "inter-server secret. Unset: decisions only in the bot, the CLI and the dashboard.",
    )
    telegram_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_TELEGRAM_TOKEN", "LOOM_RELEASE_TG_BOT_TOKEN"),
        description="Telegram bot token; unset, the bot is off.",
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        validation_alias=_env("RELMAN_TELEGRAM_API_URL"),
        description="Bot API base URL: Telegram's, a local Bot API server, or a test double.",
    )
    telegram_qa_chat_id: int | None = Field(
        default=None,
        validation_alias=_env("RELMAN_TELEGRAM_QA_CHAT_ID"),
        description='Chat that gets "🚀 Новый релиз готов к тестированию" with the '
        "approve/reject buttons; unset, no QA notices.",
    )
    telegram_team_chat_id: int | None = Field(
        default=None,
        validation_alias=_env("RELMAN_TELEGRAM_TEAM_CHAT_ID"),
        description="Chat told about production deploys, failures and rollbacks "
        "(default: the QA chat).",
    )
    telegram_language: Literal["ru", "en"] = Field(
        default="ru",
        validation_alias=_env("RELMAN_TELEGRAM_LANGUAGE"),
        description="Language for users whose Telegram language is neither ru nor en, "
        "and for chats.",
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_TELEGRAM_WEBHOOK_SECRET"),
        description="`X-Telegram-Bot-Api-Secret-Token` of the webhook, 1-256 of A-Z a-z "
        "0-9 _ - (default: derived from the token).",
    )
    telegram_timezone: str = Field(
        default="UTC",
        validation_alias=_env("RELMAN_TELEGRAM_TIMEZONE"),
        description="IANA time zone the bot shows dates in (`Europe/Moscow`).",
    )
    language: Literal["ru", "en"] = Field(
        default="en",
        validation_alias=_env("RELMAN_LANGUAGE"),
        description="Language of the CLI's deploy output (`relman deploy`, `rollback`, "
        "`ci deploy`: progress lines, the live table, hosts' errors); the deploy log files "
        "and `summary.json` stay in the seed's Russian.",
    )
    config_file: Path = Field(
        default=Path("relman.toml"),
        validation_alias=_env("RELMAN_CONFIG"),
        description="Path of relman.toml (services, hosts, environments, policy).",
    )
    log_root: Path = Field(
        default=Path("var/log/deployments"),
        validation_alias=_env("RELMAN_LOG_ROOT"),
        description="Folder of the deploy logs, in the seed's layout "
        "(`<service>/<tag>.log`, `production/…`, `rollback/…`).",
    )
    evidence_root: Path = Field(
        default=Path("var/evidence"),
        validation_alias=_env("RELMAN_EVIDENCE_ROOT"),
        description="Folder of each deploy's evidence (step logs, `summary.json`, "
        "`SHA256SUMS`), incident documents and the DORA git cache.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        validation_alias=_env("RELMAN_MAX_BODY_BYTES"),
        description="Largest request body the API accepts, in bytes (at least 1024).",
    )
    worker_heartbeat: float = Field(
        default=2.0,
        gt=0,
        validation_alias=_env("RELMAN_WORKER_HEARTBEAT"),
        description="Seconds between the heartbeats of a job relman's worker runs.",
    )
    worker_stale_after: float = Field(
        default=15.0,
        gt=0,
        validation_alias=_env("RELMAN_WORKER_STALE_AFTER"),
        description="Seconds without a heartbeat after which a job is declared "
        "interrupted (its release failed, its locks freed).",
    )
    # CI identity (DESIGN.md §5). GitHub Actions OIDC tokens are accepted only when an
    # audience is set; the issuer and its JWKS default to GitHub's.
    oidc_audience: str | None = Field(
        default=None,
        validation_alias=_env("RELMAN_OIDC_AUDIENCE"),
        description="Audience of the GitHub Actions OIDC tokens relman accepts; unset, "
        "OIDC tokens are refused.",
    )
    oidc_issuer: str = Field(
        default="https://token.actions.githubusercontent.com",
        validation_alias=_env("RELMAN_OIDC_ISSUER"),
        description="Issuer (`iss`) OIDC tokens must name.",
    )
    oidc_jwks_url: str = Field(
        default="https://token.actions.githubusercontent.com/.well-known/jwks",
        validation_alias=_env("RELMAN_OIDC_JWKS_URL"),
        description="Where the issuer's signing keys are fetched.",
    )
    oidc_jwks_ttl: float = Field(
        default=300.0,
        gt=0,
        validation_alias=_env("RELMAN_OIDC_JWKS_TTL"),
        description="Seconds the issuer's signing keys are cached (an unknown `kid` "
        "refetches once).",
    )
    oidc_repositories: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("RELMAN_OIDC_REPOSITORIES"),
        description="More `owner/name` repositories (or numeric repository ids) whose "
        "OIDC tokens are accepted, besides the services' `github_repository`; "
        "comma-separated.",
    )
    hmac_secret: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_HMAC_SECRET"),
        description=f"Shared secret of HMAC-signed CI requests, at least "
        f"{MIN_SECRET_LENGTH} characters; unset, signed requests are refused.",
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        validation_alias=_env("RELMAN_GITHUB_API_URL"),
        description="GitHub's REST API (GitHub Enterprise: `https://HOST/api/v3`).",
    )
    github_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_GITHUB_TOKEN"),
        description="Token for GitHub's REST API; workflow dispatch needs `actions:write`. "
        'Required when an environment has `executor = "github"`: relman\'s worker '
        "refuses to start without it.",
    )

    @field_validator("operator_secret", "hmac_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # A short shared secret can be guessed; refused when the settings load, so a server
        # never starts with one and fails at the first decision relayed (issue 15 item 7).
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"too short: use at least {MIN_SECRET_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return value

    @field_validator("prefix", "web_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if _NOT_IN_A_PATH.search(value):
            # Such a prefix can never be requested: "?" starts the query, "#" the fragment.
            raise ValueError("must be a URL path, like /releases: no spaces, ?, # or controls")
        value = "/" + value.strip("/")
        return "" if value == "/" else value

    @field_validator("public_url")
    @classmethod
    def _public_url_shape(cls, value: str | None) -> str | None:
        url = _http_url(value)
        return None if url is None else url.rstrip("/")

    @model_validator(mode="after")
    def _web_outside_api(self) -> Settings:
        # The API's guard asks a bearer secret for every path under the API's prefix, so a
        # dashboard there would answer every browser 401.
        api, web = self.prefix, self.web_prefix
        if api and (web == api or web.startswith(api + "/")):
            raise ValueError(
                f"RELMAN_WEB_PREFIX {web!r} is inside the API's prefix {api!r} "
                "(RELMAN_PREFIX), where every request needs the API secret: pick another path"
            )
        return self

    @model_validator(mode="after")
    def _two_secrets(self) -> Settings:
        # The operator secret relays people's decisions; CI holds the inter-server secret,
        # so the same value would let CI decide (DESIGN.md §5).
        if (
            self.operator_secret is not None
            and self.secret_key is not None
            and self.operator_secret.get_secret_value() == self.secret_key.get_secret_value()
        ):
            raise ValueError(
                "RELMAN_OPERATOR_SECRET must differ from LOOM_INTERSERVER_SECRET_KEY "
                "(RELMAN_SECRET_KEY): CI holds that one"
            )
        return self

    @field_validator(
        "database_url",
        "postgres_host",
        "telegram_token",
        "telegram_qa_chat_id",
        "telegram_team_chat_id",
        "telegram_webhook_secret",
        "oidc_audience",
        "operator_secret",
        "hmac_secret",
        "github_token",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Bot API setWebhook: secret_token is 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and - (Bot API setWebhook)")
        return value

    @field_validator("telegram_timezone")
    @classmethod
    def _timezone_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("oidc_repositories", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def effective_database_url(self) -> str:
        """The SQLAlchemy async URL to use: explicit URL, else the seed's PostgreSQL
        variables, else the embedded SQLite file ``./relman.db``."""
        if self.database_url:
            return _async_driver(self.database_url)
        if self.postgres_host:
            password = self.postgres_password.get_secret_value() if self.postgres_password else ""
            auth = quote(self.postgres_user, safe="")
            if password:
                auth += ":" + quote(password, safe="")
            return f"postgresql+asyncpg://{auth}@{self.postgres_host}/{self.postgres_db}"
        return SQLITE_DEFAULT_URL

    def require_secret(self) -> str:
        """The inter-server secret; raises :class:`ConfigError` when it is not set."""
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise ConfigError(
                "no API secret: set LOOM_INTERSERVER_SECRET_KEY (or RELMAN_SECRET_KEY), "
                "e.g. with `relman config init-env`"
            )
        return self.secret_key.get_secret_value()


#: Characters no path prefix can hold and still be requested.
_NOT_IN_A_PATH = re.compile(r"[\s?#\x00-\x1f\x7f]")
#: An http(s) URL with a host and no white space (a template's ``{address}`` is a host).
_HTTP_URL = re.compile(r"https?://[^/\s?#]+(?:[/?#]\S*)?")


def _http_url(value: str | None) -> str | None:
    """``value`` stripped, ``None`` when blank; raises :class:`ValueError` unless it is an
    http:// or https:// URL with a host and no white space (``RELMAN_PUBLIC_URL``,
    ``[environments.X] url``)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _HTTP_URL.fullmatch(value):
        raise ValueError(
            "must be an http:// or https:// URL with a host and no spaces, "
            "like https://relman.example.org"
        )
    return value


def _async_driver(url: str) -> str:
    """Pick relman's async drivers for plain ``postgresql://`` / ``sqlite://`` URLs."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


#: Query parameters of a URL that carry a secret (libpq/asyncpg ``?password=``, tokens).
_SECRET_QUERY = re.compile(
    r"([?&](?:password|passwd|pass|sslpassword|secret|token|api_key)=)[^&#]*", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and ``config show``): the
    one in ``user:password@`` and a ``?password=`` (or token, secret) query parameter."""
    url = _SECRET_QUERY.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in auth else url


# --- relman.toml ------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: The placeholders a service's workdir, URLs and commands may hold, filled per host.
HOST_PLACEHOLDERS = ("{address}", "{root}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def fill_host(template: str, address: str, root: str) -> str:
    """``template`` with ``{address}`` and ``{root}`` replaced (as the deploy engine does,
    ``relman.deploy.steps.render``): ``root`` without its trailing ``/``."""
    return template.replace("{address}", address).replace("{root}", root.rstrip("/"))


def _url_template(value: str) -> str:
    """``value`` if it is an http(s) URL with a host once ``{address}`` and ``{root}`` are
    filled in; raises :class:`ValueError` saying what is wrong otherwise (issue 15 item 7:
    a health URL that cannot work is refused at load, not after a restart and ten
    probes)."""
    unknown = [p for p in _PLACEHOLDER.findall(value) if p not in HOST_PLACEHOLDERS]
    if unknown:
        raise ValueError(
            f"{value!r}: unknown placeholder {unknown[0]} (known: {', '.join(HOST_PLACEHOLDERS)})"
        )
    problem = http_url_problem(fill_host(value, "host.example", "/srv"))
    if problem is not None:
        hint = "" if problem.startswith(":") else ", like http://{address}:8080/health"
        raise ValueError(f"{value!r}{problem}{hint}")
    return value


def http_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as an http(s) URL with a host, a port 0..65535 and no
    white space — ``": the port is not a number 0..65535"`` or ``" is not an http:// or
    https:// URL with a host"``, to follow the URL in a message — or ``None``. The rule of
    health and smoke URLs (at load, and per host in ``relman config check``)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when it is read)
    except ValueError:
        return ": the port is not a number 0..65535"
    if parts.scheme not in ("http", "https") or not parts.hostname or not _HTTP_URL.fullmatch(url):
        return " is not an http:// or https:// URL with a host"
    return None


class HealthCheck(_Model):
    """How a deploy decides the service is up (seed 003: "попытка 1 из 3")."""

    url: str = Field(
        description="URL probed after the restart; must answer 200. http(s) with a host; "
        "`{address}` (the host's address) and `{root}` (its `root`) are filled in per host.",
    )
    attempts: int = Field(default=3, ge=1, le=100, description="Probes before giving up.")
    interval: float = Field(
        default=5.0,
        ge=0,
        description="Seconds between attempts (the first retries come sooner, doubling from "
        "0.05 s; the last is still due `(attempts − 1) × interval` after the first).",
    )
    timeout: float = Field(default=5.0, gt=0, description="Seconds per attempt.")
    expect_version: bool = Field(
        default=True,
        description="The body must contain the release's version (the tag without the `v`).",
    )

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        return _url_template(value)


class Service(_Model):
    """A deployable service: where its code comes from and how it is started on a host.

    ``workdir``, ``health.url`` and ``smoke_urls`` may contain ``{address}`` (the host's
    address) and ``{root}`` (the host's ``root`` folder), so one definition fits hosts
    that differ only in those.
    """

    repo: str = Field(description="Git URL or path the hosts clone and fetch the tags from.")
    workdir: str = Field(
        description="The checkout on each host, where commands run. `{root}` is the host's "
        "`root` and `{address}` its address: `{root}/hello` gives every host its own "
        "folder. Two environments may not share one workdir on one host.",
    )
    strategy: Literal["shell", "compose"] = Field(
        default="shell",
        description="How the service is (re)started: `shell` runs `start_command`; "
        "`compose` runs `docker compose -p PROJECT -f compose_file up -d --build "
        "compose_service`.",
    )
    start_command: list[str] | None = Field(
        default=None,
        description="shell strategy: the argv that (re)starts the service, run in "
        "`workdir` (required for `shell`).",
    )
    compose_file: str | None = Field(
        default=None, description="compose strategy: the compose file, relative to `workdir`."
    )
    compose_service: str | None = Field(
        default=None, description="compose strategy: the compose service to start."
    )
    compose_project: str | None = Field(
        default=None,
        description="compose project name (`-p`): a template with `{service}`, "
        "`{environment}`, `{host}` (relman's host name) and `{address}`, made what compose "
        "accepts (lower-case letters, digits, `-`, `_`). Default `{service}-{environment}`.",
    )
    keep_images: StrictInt = Field(
        default=5,
        ge=1,
        description="compose: the images of this many last healthy tags stay on each host "
        "(a rollback without a rebuild); older and failed ones are removed.",
    )
    image_source: Literal["build", "registry"] = Field(
        default="build",
        description="compose: `build` — each host builds the image from its checkout — or "
        "`registry` — built once (by CI, or on stage when the registry lacks it) and "
        "pushed; every environment pulls exactly that image and production refuses a "
        "digest other than the one QA approved (seed 002).",
    )
    health: HealthCheck = Field(description="The health check after each restart.")
    smoke_urls: list[str] = Field(
        default_factory=list,
        description="More URLs that must answer 200 after the health check (same "
        "placeholders as `health.url`).",
    )
    backup_command: list[str] | None = Field(
        default=None,
        description="Argv that dumps the database before a migration (`{backup_dir}` is "
        "where); sha256-verified.",
    )
    migrate_command: list[str] | None = Field(
        default=None, description="Argv run in `workdir` before the restart (migrations)."
    )
    restore_command: list[str] | None = Field(
        default=None,
        description="Argv that restores the backup when an automatic rollback undoes a migration.",
    )
    log_command: list[str] | None = Field(
        default=None,
        description="Argv whose output shows the service's recent log (captured on failure).",
    )
    log_file: str | None = Field(
        default=None,
        description="Or: a log file (relative to `workdir`) whose last lines reach the "
        "deploy log on failure.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Non-secret variables given to every deploy command on the host "
        '(`{address}` and `{root}` filled in), e.g. `HELLO_HOST = "{address}"`.',
    )
    env_files: list[str] = Field(
        default_factory=list,
        description="Env files on the host (relative to `workdir`) whose values are "
        "secrets: masked in logs and evidence.",
    )
    github_repository: str | None = Field(
        default=None,
        description="`owner/name` of the service's GitHub repository: the `github` "
        "executor dispatches its workflow, and OIDC tokens of this repository are accepted.",
    )

    @field_validator("smoke_urls")
    @classmethod
    def _smoke_urls_shape(cls, value: list[str]) -> list[str]:
        return [_url_template(url) for url in value]

    @model_validator(mode="after")
    def _strategy_fields(self) -> Service:
        if self.strategy == "shell" and not self.start_command:
            raise ValueError("strategy 'shell' needs start_command")
        if self.strategy == "compose" and not (self.compose_file and self.compose_service):
            raise ValueError("strategy 'compose' needs compose_file and compose_service")
        if self.compose_project is not None:
            # what compose accepts once the placeholders are filled: letters or digits
            kept = re.sub(r"\{(service|environment|host|address)\}", "x", self.compose_project)
            if not re.search(r"[A-Za-z0-9]", kept):
                raise ValueError(
                    f"compose_project: {self.compose_project!r} gives no usable compose "
                    "project name (letters, digits, '-' and '_' are kept)"
                )
        return self


class Host(_Model):
    """A machine a service is deployed to."""

    address: str = Field(
        default="127.0.0.1",
        description="Host name or IP address relman connects to (ssh) and `{address}` in "
        "URLs and the workdir.",
    )
    transport: Literal["ssh", "local"] = Field(
        default="ssh",
        description="How commands reach the host: `ssh` (OpenSSH protocol, host key pinned "
        "by `known_hosts`) or `local` (relman's own machine, as relman's user, no shell).",
    )
    port: int = Field(default=22, ge=1, le=65535, description="ssh port.")
    user: str | None = Field(default=None, description="ssh user (default: relman's user).")
    key_file: Path | None = Field(default=None, description="ssh private key file.")
    password: SecretStr | None = Field(
        default=None, description="ssh password (prefer `key_file` or `password_env`)."
    )
    password_env: str | None = Field(
        default=None,
        description="Or: the name of an environment variable holding the password, read "
        "when relman connects (`developer1_PASSWORD` from the seed's `.env.servers`), so "
        "relman.toml holds no password.",
    )
    known_hosts: Path | None = Field(
        default=None,
        description="The known_hosts file that pins this host's key (required for ssh; an "
        "unknown or changed key is refused before any command runs).",
    )
    root: str = Field(
        default="",
        description="Folder substituted for `{root}` in a service's `workdir`, URLs, `env` "
        "and commands: several hosts (or environments) on one machine get their own "
        "folders.",
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to connect.")
    command_timeout: float = Field(
        default=600.0, gt=0, description="Seconds a remote command may take."
    )
    keepalive_interval: float = Field(
        default=15.0,
        gt=0,
        description="ssh: seconds between keepalive requests (a dead peer is noticed after "
        "3 misses).",
    )

    @model_validator(mode="after")
    def _ssh_fields(self) -> Host:
        if self.transport == "ssh" and self.known_hosts is None:
            raise ValueError("an ssh host needs known_hosts (relman pins host keys)")
        if self.password is not None and self.password_env is not None:
            raise ValueError("set password or password_env, not both")
        if self.password_env is not None and not _ENV_NAME.fullmatch(self.password_env):
            raise ValueError(f"password_env {self.password_env!r} is not a variable name")
        return self

    def machine(self) -> tuple[str, ...]:
        """Which machine this is: every ``local`` host is relman's own machine; an ssh
        host is its address (case-insensitive) and port."""
        if self.transport == "local":
            return ("local",)
        return ("ssh", self.address.lower(), str(self.port))

    def resolve_password(self) -> str | None:
        """The password to log in with: ``password``, else the value of the environment
        variable ``password_env`` read now; ``None`` when neither is configured.

        Raises :class:`ConfigError` naming the variable (never a value) when
        ``password_env`` is set but the variable is missing or empty.
        """
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if not value:
            raise ConfigError(
                f"host {self.address}: password_env names {self.password_env}, "
                "but that environment variable is not set (or empty)",
                variable=self.password_env,
            )
        return value


#: An environment variable name (``password_env``).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Environment(_Model):
    """stage, production, or a developer environment ``dev:<name>``."""

    hosts: list[str] = Field(description="Names of `[hosts.*]` entries deployed together.")
    executor: Literal["local", "github"] = Field(
        default="local",
        description="Who deploys here: `local` — relman's worker (`relman serve` or "
        "`relman worker`) — or `github` — on approval relman dispatches the "
        "`[github] approve_workflow` of the service's `github_repository`, which runs "
        "`relman ci deploy` (needs `RELMAN_GITHUB_TOKEN`).",
    )
    auto_rollback: bool = Field(
        default=True,
        description="Redeploy the last healthy tag when a deploy's health check fails "
        "(production; developer environments are never rolled back).",
    )
    owner: str | None = Field(
        default=None,
        description="Developer environments: the GitHub login whose pushes to work "
        "branches deploy here.",
    )
    batch_size: StrictInt | None = Field(
        default=None,
        ge=1,
        description="Rolling deploys: hosts changed at a time, each batch health-gated "
        "before the next (default: every host in one batch).",
    )
    max_fail: StrictInt = Field(
        default=0,
        ge=0,
        description="Failed hosts tolerated before the hosts not yet changed are left alone.",
    )
    url: str | None = Field(
        default=None,
        description="Where people open this environment (the bot links stage for QA); "
        "http(s), may contain `{address}` (the first host's address) and `{service}`.",
    )

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str | None) -> str | None:
        return _http_url(value)

    @model_validator(mode="after")
    def _rolling(self) -> Environment:
        count = len(self.hosts)
        if self.batch_size is not None and self.batch_size > count:
            raise ValueError(
                f"batch_size: {self.batch_size} is more than the environment's {count} host(s)"
            )
        if self.max_fail and self.max_fail >= count:
            raise ValueError(
                f"max_fail: {self.max_fail} would tolerate every one of the {count} host(s) "
                f"failing; at most {count - 1}"
            )
        return self


class Policy(_Model):
    """Who may do what (issue "pipeline": deny by default).

    Identities are written ``tg:<telegram user id>``, ``gh:<github login>`` or
    ``cli:<user>``.
    """

    qa: list[str] = Field(
        default_factory=list, description="Identities (or people) that approve and reject."
    )
    releaser: list[str] = Field(
        default_factory=list,
        description="Identities that roll back production, start or retry releases by hand.",
    )
    admin: list[str] = Field(default_factory=list, description="Identities that may do anything.")
    allow_self_approval: bool = Field(
        default=False, description="Whether the initiator may approve their own release."
    )
    require_reject_reason: bool = Field(
        default=True, description="A rejection must say why: a blank reason is refused."
    )
    people: dict[str, list[str]] = Field(
        default_factory=dict,
        description="A person's identities, so four-eyes holds across chat, GitHub and CLI: "
        '`anna = ["tg:111", "gh:anna", "cli:anna"]`. Role lists may name the person.',
    )
    emergency: list[Literal["qa", "releaser", "admin"]] = Field(
        default_factory=list,
        description="Roles that may start an emergency release (stage, then production "
        'without manual testing) besides `admin`, e.g. `["releaser"]`.',
    )

    def roles(self) -> Roles:
        """The domain's view of this policy."""
        return Roles(
            qa=frozenset(self.qa),
            releaser=frozenset(self.releaser),
            admin=frozenset(self.admin),
            people={name: frozenset(ids) for name, ids in self.people.items()},
            allow_self_approval=self.allow_self_approval,
            emergency=frozenset(self.emergency),
        )


class Notifications(_Model):
    """Where notices go besides the log (seed 004: a Slack-compatible webhook)."""

    webhook_urls: list[str] = Field(
        default_factory=list,
        description='URLs POSTed `{"text": …, "kind": …, "release": {…}}` on each '
        "notice (Slack-compatible).",
    )
    webhook_timeout: float = Field(
        default=5.0, gt=0, description="Seconds per webhook delivery attempt."
    )


class Analytics(_Model):
    """Release analytics (issue 14): how the DORA figures are counted."""

    rollback_window_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 3650,
        description="A healthy production deploy whose release is rolled back within this "
        "many hours counts as a failed change (change failure rate).",
    )
    git_timeout: float = Field(
        default=60.0, gt=0, description="Seconds a `git` command reading commit times may take."
    )


class GitHubExecutor(_Model):
    """The ``github`` executor (seed 003): the workflow dispatched on approval."""

    approve_workflow: str = Field(
        default="on-approve-manual-testing.yaml",
        description="Workflow file dispatched on approval (`relman init github` writes it).",
    )
    ref: str = Field(default="main", description="The git ref the workflow runs on.")


class RelmanConfig(_Model):
    """The contents of ``relman.toml``."""

    services: dict[str, Service] = Field(
        default_factory=dict, description="`[services.NAME]`: what is deployed."
    )
    environments: dict[str, Environment] = Field(
        default_factory=dict,
        description="`[environments.NAME]`: `stage`, `production` or `dev:<name>`.",
    )
    hosts: dict[str, Host] = Field(
        default_factory=dict, description="`[hosts.NAME]`: where it is deployed."
    )
    policy: Policy = Field(default_factory=Policy, description="`[policy]`: who may do what.")
    notifications: Notifications = Field(
        default_factory=Notifications, description="`[notifications]`: where notices go."
    )
    analytics: Analytics = Field(
        default_factory=Analytics, description="`[analytics]`: DORA figures."
    )
    github: GitHubExecutor = Field(
        default_factory=GitHubExecutor, description="`[github]`: the `github` executor."
    )

    def environment_url(self, environment: str, service: str) -> str | None:
        """The ``url`` of ``environment`` for ``service`` with ``{address}`` (its first
        host's address) and ``{service}`` filled in; ``None`` when it has none."""
        env = self.environments.get(environment)
        if env is None or env.url is None:
            return None
        host = self.hosts.get(env.hosts[0]) if env.hosts else None
        address = host.address if host is not None else ""
        return env.url.replace("{address}", address).replace("{service}", service)

    @model_validator(mode="after")
    def _references(self) -> RelmanConfig:
        for env_name, env in self.environments.items():
            if not (env_name in ("stage", "production") or env_name.startswith("dev:")):
                raise ConfigValueError(
                    f"environment {env_name!r}: expected stage, production or dev:<name>",
                    ("environments", env_name),
                )
            for index, host in enumerate(env.hosts):
                if host not in self.hosts:
                    raise ConfigValueError(
                        f"environment {env_name!r} names unknown host {host!r}"
                        + _did_you_mean(host, self.hosts),
                        ("environments", env_name, "hosts", index),
                    )
        self._own_workdirs()
        return self

    def _own_workdirs(self) -> None:
        # Two environments deploying one service into one folder of one machine share a
        # checkout: a deploy to one checks out its tag under the other's running process
        # and restarts it (issue 15 item 7: production killed stage).
        for service_name, service in self.services.items():
            seen: dict[tuple[tuple[str, ...], str], tuple[str, str]] = {}
            for env_name, env in self.environments.items():
                for host_name in env.hosts:
                    host = self.hosts[host_name]
                    workdir = posixpath.normpath(
                        fill_host(service.workdir, host.address, host.root)
                    )
                    key = (host.machine(), workdir)
                    other = seen.setdefault(key, (env_name, host_name))
                    if other[0] != env_name:
                        raise ConfigValueError(
                            f"environments {other[0]!r} (host {other[1]!r}) and {env_name!r} "
                            f"(host {host_name!r}) would share the working directory "
                            f"{workdir} of service {service_name!r} on one machine: give "
                            "each environment its own host or host `root` (workdir "
                            f"{service.workdir!r})",
                            ("environments", env_name, "hosts"),
                        )


class ConfigValueError(ValueError):
    """A relman.toml check of several tables that knows which key it is about (``loc``,
    as pydantic's error locations), so :func:`load_config` can give that key's line."""

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the closest of ``choices`` to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def require_runnable(config: RelmanConfig, *, github_client: bool) -> None:
    """Refuse to start relman's worker with an executor it cannot run (issue 15 item 7:
    found at start-up, not at the first approval, which would lose the release).

    ``github_client`` tells whether a GitHub client is configured (``RELMAN_GITHUB_TOKEN``).
    Only production's executor dispatches (on approval, seed 003 on-approve-manual-testing;
    stage's workflow starts from the tag push). Raises :class:`ConfigError` naming the
    setting when production has ``executor = "github"`` and there is no token, or a
    service has no ``github_repository`` to dispatch in.
    """
    production = config.environments.get("production")
    if production is None or production.executor != "github":
        return
    if not github_client:
        raise ConfigError(
            "RELMAN_GITHUB_TOKEN is not set, but environment 'production' has executor = "
            '"github": relman dispatches its workflow on approval with that token '
            '(actions:write); set it, or use executor = "local"',
            variable="RELMAN_GITHUB_TOKEN",
        )
    missing = [name for name, s in config.services.items() if not s.github_repository]
    if missing:
        raise ConfigError(
            f"services.{missing[0]}.github_repository is not set, but environment "
            "'production' has executor = \"github\": relman dispatches the workflow of that "
            "repository (owner/name) on approval"
        )


def load_config(path: Path) -> RelmanConfig:
    """Read and validate ``relman.toml``; a missing file is an empty configuration.

    Raises :class:`ConfigError` for a file that is not valid TOML or does not match the
    schema: ``<path>:<line>: <key>: <problem>``, with the line of the key when it can be
    found and "did you mean" for an unknown key close to a known one.
    """
    if not path.exists():
        return RelmanConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "relman.toml") -> RelmanConfig:
    """Validate the relman.toml ``text`` (``source`` names it in errors); see
    :func:`load_config` for the errors raised."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return RelmanConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc.errors()[0], text, source)) from None


def _explain(error: ErrorDetails, text: str, source: str) -> str:
    """One line for a validation ``error`` of relman.toml ``text``."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigValueError):
        loc = cause.loc
    message = _message(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key" + _did_you_mean(str(loc[-1]), _known_keys(loc[:-1]))
    where = ".".join(_key_text(p) for p in loc) or "(top level)"
    line = key_line(text, loc)
    return f"{source}:{line}: {where}: {message}" if line else f"{source}: {where}: {message}"


def _key_text(part: str | int) -> str:
    if isinstance(part, int):
        return str(part)
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the table at ``loc`` of relman.toml may hold (empty when not a model)."""
    model: Any = RelmanConfig
    parts = list(loc)
    while parts:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        part = parts.pop(0)
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = field.annotation
        if get_origin(model) is dict:  # services.NAME: skip the name
            model = get_args(model)[1]
            if parts:
                parts.pop(0)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def key_line(text: str, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line of relman.toml ``text`` where the key at ``loc`` (pydantic's error
    location: ``("services", "hello", "start_comand")``) is written, else the line of
    the nearest table header above it; ``None`` when neither is found.

    TOML parsers keep no positions, so the key is searched: the table's ``[header]``
    (parsed with tomllib, so quoting does not matter), then the first line of that table
    that assigns the key (``key =``, ``"key" =``, ``a.key =`` or inside an inline table).
    """
    keys = [str(p) for p in loc if not isinstance(p, int)]
    lines = text.splitlines()
    headers: list[tuple[int, tuple[str, ...]]] = []  # (0-based line, path)
    for number, line in enumerate(lines):
        match = _HEADER.match(line)
        if match is None:
            continue
        try:
            table = tomllib.loads(f"[{match[1]}]")
        except tomllib.TOMLDecodeError:
            continue
        names: list[str] = []
        while isinstance(table, dict) and len(table) == 1:
            name, table = next(iter(table.items()))
            names.append(name)
        headers.append((number, tuple(names)))
    for number, path in headers:  # the key is a table of its own: [service.x] for service
        if keys and path[: len(keys)] == tuple(keys):
            return number + 1
    # The longest table path the location starts with: its section holds the key.
    best: tuple[int, int, tuple[str, ...]] | None = None  # (start, end, path)
    for index, (number, path) in enumerate(headers):
        if tuple(keys[: len(path)]) == path and (best is None or len(path) > len(best[2])):
            end = headers[index + 1][0] if index + 1 < len(headers) else len(lines)
            best = (number, end, path)
    start, end, path = best if best is not None else (-1, len(lines), ())
    if best is None and headers:
        end = headers[0][0]
    rest = keys[len(path) :]
    if rest:
        wanted = re.compile(
            r"(^|[\s{,.])(\"|')?" + re.escape(rest[0]) + r"(\"|')?\s*(=|\.)", re.IGNORECASE
        )
        for number in range(start + 1, end):
            if wanted.search(lines[number].split("#", 1)[0]):
                return number + 1
    return start + 1 if start >= 0 else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``.env``; ``overrides`` win (CLI options).

    Raises :class:`ConfigError` naming the variable for a value of the wrong shape.
    """
    try:
        return Settings(**overrides)
    except UnicodeDecodeError:
        raise ConfigError(".env: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read .env: {exc.strerror or exc}") from None
    except SettingsError as exc:
        raise ConfigError(f"settings: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if not where:  # a check of several settings names them in its message
            raise ConfigError(f"settings: {_message(first['msg'])}") from None
        raise ConfigError(f"setting {where}: {_message(first['msg'])}") from None


def _message(msg: str) -> str:
    """A validation message for a person: without the ``Value error, `` pydantic puts
    before the message of a check of ours."""
    return msg.removeprefix("Value error, ")
