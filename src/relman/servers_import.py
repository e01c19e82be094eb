"""Turn the seed's ``.env.servers`` into relman.toml tables (seed 003 "Переменные окружения").

The seed keeps its servers in a dotenv file on the GitHub runner::

    developer1_HOST=192.168.1.10      developer1_PASSWORD=…
    STAGE_HOST=192.168.1.20           STAGE_PASSWORD=…
    PROD_HOST=192.168.1.30            PROD_PASSWORD=…

:func:`import_servers` reads such a file (python-dotenv, no variable interpolation) and
returns relman.toml text (tomlkit) with one ``[hosts.<name>]`` per server and the
environments ``stage``, ``production`` and ``dev:developerN`` (``owner = "developerN"``: the
GitHub login whose pushes deploy there; edit it when the login differs). Also understood:
``<PREFIX>_USER`` and ``<PREFIX>_PORT``, and ``user@address`` in ``<PREFIX>_HOST``.

A password is never copied: a host with a password gets ``password_env = "<PREFIX>_PASSWORD"``,
the name of the variable relman reads when it connects (export the file's variables into
relman's environment). The file's other variables (``LOOM_*`` API settings, …) are listed by
name only, as ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
from dotenv import dotenv_values

from relman.domain.errors import ConfigError

#: The SSH user of every imported host unless ``<PREFIX>_USER`` says otherwise (seed 003:
#: ``ssh root@prod-server``).
DEFAULT_USER = "root"
#: The known_hosts file the imported hosts are pinned in (relman refuses unpinned keys).
DEFAULT_KNOWN_HOSTS = "/etc/relman/known_hosts"

_KEY = re.compile(r"(?P<prefix>[A-Za-z0-9]+)_(?P<field>HOST|PASSWORD|USER|PORT)")
_DEVELOPER = re.compile(r"developer(?P<number>\d+)", re.IGNORECASE)
#: Shared-environment prefixes → (host name, environment).
_SHARED = {
    "STAGE": ("stage", "stage"),
    "PROD": ("production", "production"),
    "PRODUCTION": ("production", "production"),
}


@dataclass(frozen=True)
class ImportedServer:
    """One server of the file.

    ``name`` is the host's name in relman.toml (``stage``, ``production``, ``developer1``);
    ``environment`` the environment it serves; ``owner`` the developer (``dev:`` only);
    ``password_env`` the variable holding its password (``None``: key authentication).
    """

    name: str
    environment: str
    address: str
    user: str | None = None
    port: int | None = None
    password_env: str | None = None
    owner: str | None = None
    order: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ServersFile:
    """The servers found in a file (stage, production, then developers by number) and the
    names of the variables that were not understood."""

    servers: list[ImportedServer]
    ignored: list[str] = field(default_factory=list)


@dataclass
class _Draft:
    prefix: str
    values: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


def parse_servers(values: Mapping[str, str | None], *, source: str = ".env.servers") -> ServersFile:
    """The servers in a dotenv file's ``values`` (name → value; ``None`` for a bare name).

    Raises :class:`ConfigError` naming the variable (never a value) for a password or user
    without its ``_HOST``, an empty host, a port that is not 1..65535, two spellings of one
    server (``PROD_HOST`` and ``PRODUCTION_HOST``), or a file with no server at all.
    """
    drafts: dict[str, _Draft] = {}
    ignored: list[str] = []
    for key, value in values.items():
        match = _KEY.fullmatch(key)
        prefix = match["prefix"] if match else ""
        if match is None or not (_DEVELOPER.fullmatch(prefix) or prefix.upper() in _SHARED):
            ignored.append(key)
            continue
        ident = _identity(prefix)
        draft = drafts.setdefault(ident, _Draft(prefix))
        if draft.prefix != prefix:
            raise ConfigError(
                f"{source}: {key} and {draft.prefix}_{match['field']} name the same server; "
                "keep one spelling"
            )
        draft.keys[match["field"]] = key
        if value is not None and value.strip():
            draft.values[match["field"]] = value.strip() if match["field"] != "PASSWORD" else value
    servers = [_server(ident, draft, source) for ident, draft in drafts.items()]
    if not servers:
        raise ConfigError(
            f"{source}: no servers found (expected developerN_HOST, STAGE_HOST or PROD_HOST)"
        )
    servers.sort(key=lambda s: s.order)
    return ServersFile(servers, sorted(ignored))


def _identity(prefix: str) -> str:
    developer = _DEVELOPER.fullmatch(prefix)
    if developer:
        return f"developer{int(developer['number'])}"
    return _SHARED[prefix.upper()][0]


def _server(ident: str, draft: _Draft, source: str) -> ImportedServer:
    host_key = draft.keys.get("HOST", f"{draft.prefix}_HOST")
    address = draft.values.get("HOST")
    if address is None:
        given = ", ".join(sorted(draft.keys.values()))
        raise ConfigError(f"{source}: {given} without a value for {host_key}")
    user = draft.values.get("USER")
    if "@" in address:
        login, _, address = address.rpartition("@")
        user = user or login
    if not address or any(c.isspace() for c in address):
        raise ConfigError(f"{source}: {host_key} is not a host name or address")
    port = None
    if "PORT" in draft.values:
        text = draft.values["PORT"]
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ConfigError(f"{source}: {draft.keys['PORT']} must be a port number 1..65535")
        port = int(text)
    password_env = draft.keys["PASSWORD"] if "PASSWORD" in draft.values else None
    developer = _DEVELOPER.fullmatch(ident)
    if developer:
        number = int(developer["number"])
        return ImportedServer(
            name=ident,
            environment=f"dev:{ident}",
            address=address,
            user=user,
            port=port,
            password_env=password_env,
            owner=ident,
            order=(2, number),
        )
    rank = 0 if ident == "stage" else 1
    return ImportedServer(ident, ident, address, user, port, password_env, order=(rank, 0))


def servers_toml(
    servers: ServersFile,
    *,
    user: str = DEFAULT_USER,
    known_hosts: str = DEFAULT_KNOWN_HOSTS,
    source: str = ".env.servers",
) -> str:
    """relman.toml text: a comment, ``[hosts.*]`` then ``[environments.*]`` for ``servers``.

    ``user`` is the SSH user of hosts whose file gives none; ``known_hosts`` the file that
    pins their keys. The text holds no password (only ``password_env`` names).
    """
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Servers imported from {source} by `relman config import-servers`."))
    doc.add(tomlkit.comment("No password is copied: password_env names the variable relman"))
    doc.add(tomlkit.comment("reads when it connects. Export them first, e.g."))
    shown = source if Path(source).is_absolute() else f"./{source.removeprefix('./')}"
    doc.add(tomlkit.comment(f"  set -a; . {shown}; set +a"))
    doc.add(tomlkit.comment(f"Pin every host's key in {known_hosts} before the first deploy"))
    doc.add(
        tomlkit.comment("(compare the fingerprint with the server's; relman trusts no new key).")
    )
    if servers.ignored:
        doc.add(tomlkit.comment("Not imported: " + ", ".join(servers.ignored)))
    doc.add(tomlkit.nl())

    hosts = tomlkit.table(is_super_table=True)
    for server in servers.servers:
        table = tomlkit.table()
        table.add("address", server.address)
        table.add("user", server.user or user)
        if server.port is not None:
            table.add("port", server.port)
        if server.password_env is not None:
            table.add("password_env", server.password_env)
        table.add("known_hosts", known_hosts)
        hosts.add(server.name, table)
    doc.add("hosts", hosts)

    environments = tomlkit.table(is_super_table=True)
    by_environment: dict[str, list[ImportedServer]] = {}
    for server in servers.servers:
        by_environment.setdefault(server.environment, []).append(server)
    for name, members in by_environment.items():
        table = tomlkit.table()
        table.add("hosts", [m.name for m in members])
        owner = members[0].owner
        if owner is not None:
            table.add("owner", owner)
        environments.add(name, table)
    doc.add("environments", environments)
    return tomlkit.dumps(doc)


def read_servers_file(path: Path) -> ServersFile:
    """Parse ``path`` (a dotenv file, read without variable interpolation).

    Raises :class:`ConfigError` when it cannot be read, or see :func:`parse_servers`.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        values = dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_servers(values, source=str(path))


def import_servers(
    path: Path, *, user: str = DEFAULT_USER, known_hosts: str = DEFAULT_KNOWN_HOSTS
) -> str:
    """relman.toml tables for the servers of the ``.env.servers`` file at ``path``.

    Raises :class:`ConfigError` (see :func:`read_servers_file`).
    """
    return servers_toml(
        read_servers_file(path), user=user, known_hosts=known_hosts, source=str(path)
    )


def import_servers_file(
    path: Path,
    *,
    user: str = DEFAULT_USER,
    known_hosts: str = DEFAULT_KNOWN_HOSTS,
    output: Path | None = None,
    force: bool = False,
) -> ServersFile:
    """Write relman.toml tables for the servers of ``path`` to ``output`` (issue 15 item
    12) and return what was imported (see :func:`next_steps`).

    Raises :class:`ConfigError` naming ``output`` when it exists and ``force`` is false,
    or cannot be written; see :func:`read_servers_file` for the input's errors.
    """
    servers = read_servers_file(path)
    text = servers_toml(servers, user=user, known_hosts=known_hosts, source=str(path))
    if output is None:
        return servers
    try:
        # "x" refuses an existing file atomically: no check-then-write race.
        with output.open("w" if force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise ConfigError(f"{output} exists; not overwriting it (--force replaces it)") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None
    return servers


def next_steps(output: Path, servers: ServersFile, *, known_hosts: str) -> list[str]:
    """What to edit in ``output`` after an import, as lines for a person: the services,
    the hosts' keys in ``known_hosts``, the developers' GitHub logins, the passwords'
    variables, then ``relman config check``."""
    lines = [
        f"next, in {output}:",
        '  1. add a [services.NAME] table per service: repo, workdir (e.g. "{root}/NAME"), '
        'start_command (or strategy = "compose"), health = { url = '
        '"http://{address}:PORT/health" } (see docs/configuration.md)',
    ]
    scans = " ; ".join(
        f"ssh-keyscan{'' if s.port in (None, 22) else f' -p {s.port}'} {s.address}"
        for s in servers.servers
    )
    lines.append(
        f"  2. pin the hosts' keys in {known_hosts}: {scans} >> {known_hosts} "
        "— then compare each fingerprint (ssh-keygen -lf) with the server's own"
    )
    owners = [s for s in servers.servers if s.owner is not None]
    if owners:
        named = ", ".join(f'{s.environment} owner = "{s.owner}"' for s in owners)
        lines.append(
            f"  3. owners are GitHub logins (whose pushes deploy there): {named} "
            "— change each to the developer's login"
        )
    secret = [s.password_env for s in servers.servers if s.password_env]
    if secret:
        lines.append(
            f"  {len(lines)}. passwords stay in the environment: export {', '.join(secret)} "
            "before relman connects (or use key_file)"
        )
    lines.append(f"  {len(lines)}. then: RELMAN_CONFIG={output} relman config check")
    return lines
