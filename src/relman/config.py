"""Configuration: server settings from the environment, targets and policy from relman.toml.

Server settings (:class:`Settings`) come from ``RELMAN_*`` variables, the seed's
``LOOM_RELEASE_TG_BOT_*`` / ``LOOM_INTERSERVER_SECRET_KEY`` names (seed 003, "Конфигурация
сервиса"), ``DATABASE_URL``, or a ``.env`` file in the working directory. Services,
environments, hosts and the approval policy live in ``relman.toml`` (:class:`RelmanConfig`).

Secrets are :class:`pydantic.SecretStr`: they print as ``**********`` and are only unwrapped
where they are used.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from relman.domain.errors import ConfigError

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
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_SECRET_KEY", "LOOM_INTERSERVER_SECRET_KEY"),
    )
    telegram_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("RELMAN_TELEGRAM_TOKEN", "LOOM_RELEASE_TG_BOT_TOKEN"),
    )
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

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = "/" + value.strip("/")
        return "" if value == "/" else value

    @field_validator("database_url", "postgres_host", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

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


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and ``config show``)."""
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
    #: compose strategy: ``docker compose -f FILE up -d --build SERVICE``.
    compose_file: str | None = None
    compose_service: str | None = None
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
        return self


class Host(_Model):
    """A machine a service is deployed to."""

    address: str = "127.0.0.1"
    transport: Literal["ssh", "local"] = "ssh"
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    key_file: Path | None = None
    password: SecretStr | None = None
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
        return self


class Environment(_Model):
    """stage, production, or a developer environment ``dev:<name>``."""

    hosts: list[str]
    executor: Literal["local", "github"] = "local"
    #: Roll back automatically when a deploy's health check fails (production default).
    auto_rollback: bool = True
    #: Developer environments: the GitHub login whose pushes deploy here.
    owner: str | None = None


class Policy(_Model):
    """Who may do what (issue "pipeline": deny by default).

    Identities are written ``tg:<telegram user id>``, ``gh:<github login>`` or
    ``cli:<user>``.
    """

    qa: list[str] = Field(default_factory=list)
    releaser: list[str] = Field(default_factory=list)
    admin: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False


class RelmanConfig(_Model):
    """The contents of ``relman.toml``."""

    services: dict[str, Service] = Field(default_factory=dict)
    environments: dict[str, Environment] = Field(default_factory=dict)
    hosts: dict[str, Host] = Field(default_factory=dict)
    policy: Policy = Field(default_factory=Policy)

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
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``.env``; ``overrides`` win (CLI options).

    Raises :class:`ConfigError` naming the variable for a value of the wrong shape.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']}") from None
