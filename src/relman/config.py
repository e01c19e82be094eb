"""Configuration: server settings from the environment, targets and policy from relman.toml.

Server settings (:class:`Settings`) come from ``RELMAN_*`` variables, the seed's
``LOOM_RELEASE_TG_BOT_*`` / ``LOOM_INTERSERVER_SECRET_KEY`` names (seed 003, "Конфигурация
сервиса"), ``DATABASE_URL``, or a ``.env`` file in the working directory. Services,
environments, hosts and the approval policy live in ``relman.toml`` (:class:`RelmanConfig`).

Secrets are :class:`pydantic.SecretStr`: they print as ``**********`` and are only unwrapped
where they are used.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
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
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from relman.domain.errors import ConfigError
from relman.domain.policy import Roles

SQLITE_DEFAULT_URL = "sqlite+aiosqlite:///./relman.db"


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Server settings. Each field lists the environment variables it is read from."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None, validation_alias=_env("RELMAN_DATABASE_URL", "DATABASE_URL")
    )
    # The seed's PostgreSQL settings; used when no DATABASE_URL is given and a host is set.
    postgres_host: str | None = Field(
        default=None, validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_CONTAINER_NAME")
    )
    postgres_db: str = Field(
        default="releases", validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_DB_NAME")
    )
    postgres_user: str = Field(
        default="postgres", validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_USER")
    )
    postgres_password: SecretStr | None = Field(
        default=None, validation_alias=_env("LOOM_RELEASE_TG_BOT_POSTGRES_PASSWORD")
    )

    host: str = Field(default="127.0.0.1", validation_alias=_env("RELMAN_HOST"))
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        validation_alias=_env("RELMAN_PORT", "LOOM_RELEASE_TG_BOT_PORT"),
    )
    prefix: str = Field(
        default="/api/tg-bot", validation_alias=_env("RELMAN_PREFIX", "LOOM_RELEASE_TG_BOT_PREFIX")
    )
    #: Where the web dashboard is served (a path; "" = the site's root).
    web_prefix: str = Field(default="", validation_alias=_env("RELMAN_WEB_PREFIX"))
    #: The dashboard's address as people open it (behind a proxy, with https), used in
    #: sign-in links; default: the listen address.
    public_url: str | None = Field(default=None, validation_alias=_env("RELMAN_PUBLIC_URL"))
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_SECRET_KEY", "LOOM_INTERSERVER_SECRET_KEY"),
    )
    #: The API secret that may relay a person's decision (approve, reject, rollback,
    #: retry); the inter-server secret above is CI's and can only create and report.
    operator_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("RELMAN_OPERATOR_SECRET")
    )
    telegram_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_TELEGRAM_TOKEN", "LOOM_RELEASE_TG_BOT_TOKEN"),
    )
    # The Telegram bot (issue "Telegram bot"); off without a token.
    #: Bot API base URL: Telegram's, a local Bot API server, or a test double.
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        validation_alias=_env("RELMAN_TELEGRAM_API_URL"),
    )
    #: Chat that gets "🚀 Новый релиз готов к тестированию" with the approve/reject buttons.
    telegram_qa_chat_id: int | None = Field(
        default=None, validation_alias=_env("RELMAN_TELEGRAM_QA_CHAT_ID")
    )
    #: Chat told about production deploys, failures and rollbacks (default: the QA chat).
    telegram_team_chat_id: int | None = Field(
        default=None, validation_alias=_env("RELMAN_TELEGRAM_TEAM_CHAT_ID")
    )
    #: Language for users whose Telegram language is neither ru nor en, and for chats.
    telegram_language: Literal["ru", "en"] = Field(
        default="ru", validation_alias=_env("RELMAN_TELEGRAM_LANGUAGE")
    )
    #: ``X-Telegram-Bot-Api-Secret-Token`` of the webhook (default: derived from the token).
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("RELMAN_TELEGRAM_WEBHOOK_SECRET")
    )
    #: IANA time zone the bot shows dates in.
    telegram_timezone: str = Field(default="UTC", validation_alias=_env("RELMAN_TELEGRAM_TIMEZONE"))
    config_file: Path = Field(default=Path("relman.toml"), validation_alias=_env("RELMAN_CONFIG"))
    log_root: Path = Field(
        default=Path("var/log/deployments"), validation_alias=_env("RELMAN_LOG_ROOT")
    )
    evidence_root: Path = Field(
        default=Path("var/evidence"), validation_alias=_env("RELMAN_EVIDENCE_ROOT")
    )
    #: Largest request body the API accepts, in bytes.
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, validation_alias=_env("RELMAN_MAX_BODY_BYTES")
    )
    #: relman's worker (the ``local`` executor): seconds between heartbeats of a running
    #: job, and seconds without one after which the job is declared interrupted.
    worker_heartbeat: float = Field(
        default=2.0, gt=0, validation_alias=_env("RELMAN_WORKER_HEARTBEAT")
    )
    worker_stale_after: float = Field(
        default=15.0, gt=0, validation_alias=_env("RELMAN_WORKER_STALE_AFTER")
    )
    # CI identity (DESIGN.md §5). GitHub Actions OIDC tokens are accepted only when an
    # audience is set; the issuer and its JWKS default to GitHub's.
    oidc_audience: str | None = Field(default=None, validation_alias=_env("RELMAN_OIDC_AUDIENCE"))
    oidc_issuer: str = Field(
        default="https://token.actions.githubusercontent.com",
        validation_alias=_env("RELMAN_OIDC_ISSUER"),
    )
    oidc_jwks_url: str = Field(
        default="https://token.actions.githubusercontent.com/.well-known/jwks",
        validation_alias=_env("RELMAN_OIDC_JWKS_URL"),
    )
    #: Seconds the issuer's signing keys are cached (an unknown ``kid`` refetches once).
    oidc_jwks_ttl: float = Field(default=300.0, gt=0, validation_alias=_env("RELMAN_OIDC_JWKS_TTL"))
    #: More ``owner/name`` repositories (or numeric repository ids) whose OIDC tokens are
    #: accepted, besides the services' ``github_repository``; comma-separated in the env.
    oidc_repositories: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("RELMAN_OIDC_REPOSITORIES")
    )
    #: Shared secret of HMAC-signed CI requests; HMAC is off when unset.
    hmac_secret: SecretStr | None = Field(default=None, validation_alias=_env("RELMAN_HMAC_SECRET"))
    github_api_url: str = Field(
        default="https://api.github.com", validation_alias=_env("RELMAN_GITHUB_API_URL")
    )
    #: Token for GitHub's REST API (workflow dispatch needs ``actions:write``).
    github_token: SecretStr | None = Field(
        default=None, validation_alias=_env("RELMAN_GITHUB_TOKEN")
    )

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

    @field_validator(
        "database_url",
        "postgres_host",
        "telegram_token",
        "telegram_qa_chat_id",
        "telegram_team_chat_id",
        "telegram_webhook_secret",
        "oidc_audience",
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


class HealthCheck(_Model):
    """How a deploy decides the service is up (seed 003: "попытка 1 из 3")."""

    url: str
    attempts: int = Field(default=3, ge=1, le=100)
    interval: float = Field(default=5.0, ge=0, description="seconds between attempts")
    timeout: float = Field(default=5.0, gt=0, description="seconds per attempt")
    #: When true, the body must contain the release's version (tag without the ``v``).
    expect_version: bool = True


class Service(_Model):
    """A deployable service: where its code comes from and how it is started on a host.

    ``workdir``, ``health.url`` and ``smoke_urls`` may contain ``{address}`` (the host's
    address) and ``{root}`` (the host's ``root`` folder), so one definition fits hosts
    that differ only in those.
    """

    repo: str
    workdir: str
    strategy: Literal["shell", "compose"] = "shell"
    #: shell strategy: the command that (re)starts the service, run in ``workdir``.
    start_command: list[str] | None = None
    #: compose strategy: ``docker compose -p PROJECT -f FILE up -d --build SERVICE``.
    compose_file: str | None = None
    compose_service: str | None = None
    #: compose project name (``-p``): a template with ``{service}``, ``{environment}``,
    #: ``{host}`` (relman's host name) and ``{address}``, normalized to what compose
    #: accepts (lower case letters, digits, ``-`` and ``_``). Default
    #: ``{service}-{environment}``.
    compose_project: str | None = None
    #: compose: the images of this many last healthy tags stay on each host (for a
    #: rollback without a rebuild); older and failed ones are removed after a healthy deploy.
    keep_images: StrictInt = Field(default=5, ge=1)
    #: compose: ``build`` — each host builds the image from its checkout — or ``registry``
    #: — the image is built once (by CI, or on stage when the registry lacks it) and
    #: pushed, every environment pulls exactly that image (seed 002), and production
    #: refuses a digest other than the one QA approved on stage.
    image_source: Literal["build", "registry"] = "build"
    health: HealthCheck
    smoke_urls: list[str] = Field(default_factory=list)
    backup_command: list[str] | None = None
    migrate_command: list[str] | None = None
    restore_command: list[str] | None = None
    #: Command whose output shows the service's recent log (captured on failure).
    log_command: list[str] | None = None
    #: Or: a log file (relative to ``workdir``) whose last lines are captured on failure.
    log_file: str | None = None
    #: Non-secret variables given to every deploy command on the host (``{address}`` and
    #: ``{root}`` are substituted), e.g. ``HELLO_HOST = "{address}"``.
    env: dict[str, str] = Field(default_factory=dict)
    env_files: list[str] = Field(default_factory=list)
    #: ``owner/name`` of the GitHub repository (for workflow dispatch and OIDC checks).
    github_repository: str | None = None

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

    address: str = "127.0.0.1"
    transport: Literal["ssh", "local"] = "ssh"
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    key_file: Path | None = None
    password: SecretStr | None = None
    #: Or: the name of an environment variable holding the password, read when relman
    #: connects (``developer1_PASSWORD`` from the seed's ``.env.servers``), so relman.toml
    #: holds no password.
    password_env: str | None = None
    #: The known_hosts file that pins this host's key (required for ssh).
    known_hosts: Path | None = None
    #: Folder substituted for ``{root}`` in a service's workdir and URLs.
    root: str = ""
    connect_timeout: float = Field(default=10.0, gt=0, description="seconds")
    command_timeout: float = Field(default=600.0, gt=0, description="seconds")
    #: ssh: seconds between keepalive requests (a dead peer is noticed after 3 misses).
    keepalive_interval: float = Field(default=15.0, gt=0, description="seconds")

    @model_validator(mode="after")
    def _ssh_fields(self) -> Host:
        if self.transport == "ssh" and self.known_hosts is None:
            raise ValueError("an ssh host needs known_hosts (relman pins host keys)")
        if self.password is not None and self.password_env is not None:
            raise ValueError("set password or password_env, not both")
        if self.password_env is not None and not _ENV_NAME.fullmatch(self.password_env):
            raise ValueError(f"password_env {self.password_env!r} is not a variable name")
        return self

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

    hosts: list[str]
    executor: Literal["local", "github"] = "local"
    #: Roll back automatically when a deploy's health check fails (production default).
    auto_rollback: bool = True
    #: Developer environments: the GitHub login whose pushes deploy here.
    owner: str | None = None
    #: Rolling deploys: hosts changed at a time, each batch health-gated before the next
    #: (default: every host in one batch).
    batch_size: StrictInt | None = Field(default=None, ge=1)
    #: Failed hosts tolerated before the hosts not yet changed are left alone.
    max_fail: StrictInt = Field(default=0, ge=0)
    #: Where people open this environment (issue 16: the bot links stage for QA); http(s),
    #: may contain ``{address}`` (the first host's address) and ``{service}``.
    url: str | None = None

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

    qa: list[str] = Field(default_factory=list)
    releaser: list[str] = Field(default_factory=list)
    admin: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    #: A rejection must say why (issue 16): a blank reason is refused everywhere.
    require_reject_reason: bool = True
    #: A person's identities, so four-eyes holds across chat, GitHub and CLI:
    #: ``anna = ["tg:111", "gh:anna", "cli:anna"]``. Role lists may name the person.
    people: dict[str, list[str]] = Field(default_factory=dict)
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

    webhook_urls: list[str] = Field(default_factory=list)
    #: seconds per webhook delivery attempt
    webhook_timeout: float = Field(default=5.0, gt=0)


class Analytics(_Model):
    """Release analytics (issue 14): how the DORA figures are counted."""

    #: A healthy production deploy whose release is rolled back within this many hours
    #: counts as a failed change (change failure rate).
    rollback_window_hours: float = Field(default=24.0, gt=0, le=24 * 3650)
    #: Seconds a ``git`` command reading commit times may take.
    git_timeout: float = Field(default=60.0, gt=0)


class GitHubExecutor(_Model):
    """The ``github`` executor (seed 003): the workflow dispatched on approval."""

    approve_workflow: str = "on-approve-manual-testing.yaml"
    #: The git ref the workflow runs on.
    ref: str = "main"


class RelmanConfig(_Model):
    """The contents of ``relman.toml``."""

    services: dict[str, Service] = Field(default_factory=dict)
    environments: dict[str, Environment] = Field(default_factory=dict)
    hosts: dict[str, Host] = Field(default_factory=dict)
    policy: Policy = Field(default_factory=Policy)
    notifications: Notifications = Field(default_factory=Notifications)
    analytics: Analytics = Field(default_factory=Analytics)
    github: GitHubExecutor = Field(default_factory=GitHubExecutor)

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
                raise ValueError(
                    f"environment {env_name!r}: expected stage, production or dev:<name>"
                )
            for host in env.hosts:
                if host not in self.hosts:
                    raise ValueError(f"environment {env_name!r} names unknown host {host!r}")
        return self


def load_config(path: Path) -> RelmanConfig:
    """Read and validate ``relman.toml``; a missing file is an empty configuration.

    Raises :class:`ConfigError` with the file, the key and the problem for a file that is
    not valid TOML or does not match the schema.
    """
    if not path.exists():
        return RelmanConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return RelmanConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {_message(first['msg'])}") from None


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
