"""The ``ssh`` transport: asyncssh with host keys pinned from known_hosts (DESIGN.md §4, §5).

* The host key must match an entry of the host's configured known_hosts file. An unknown or
  changed key is refused while connecting — before any command runs — with
  :class:`HostKeyRejected`, which names the host and the ``SHA256:…`` fingerprint of the key
  the server offered. relman never adds keys on its own (no trust on first use).
* One connection per host, opened on first use and reused by every step of a deploy;
  keepalives detect a dead peer; a connect timeout and a per-command timeout (seconds).
* Key or password auth. The password (a :class:`~pydantic.SecretStr`, or the environment
  variable named by ``password_env``, read when connecting) is unwrapped only in the call to
  asyncssh and never appears in a message.
* The remote argv is quoted with :func:`shlex.join`; the working directory and environment
  become ``cd -- DIR && env K=V … argv`` because sshd's ``AcceptEnv`` usually drops
  environment requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncssh

from relman.config import Host
from relman.deploy.errors import HostKeyRejected, TransportError
from relman.deploy.transport import DRAIN_GRACE, CommandResult, LineCallback, LineSplitter
from relman.domain.errors import ConfigError


def remote_command(
    argv: Sequence[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The command line sent to the remote shell for ``argv`` (pure; tested as data).

    ``cwd`` becomes ``cd -- DIR && ``; ``env`` an ``env K=V …`` prefix (sorted keys). Every
    word is quoted with :func:`shlex.join`, so no value is interpreted by the remote shell.
    """
    if not argv:
        raise ValueError("empty argv")
    words = list(argv)
    if env:
        words = ["env", *(f"{key}={env[key]}" for key in sorted(env)), *words]
    line = shlex.join(words)
    if cwd:
        line = shlex.join(["cd", "--", cwd]) + " && " + line
    return line


class _PinnedClient(asyncssh.SSHClient):
    """Records the key the server offered when it is not in the pinned set.

    asyncssh calls :meth:`validate_host_public_key` only for a key that known_hosts does not
    trust; refusing it here aborts the handshake before authentication.
    """

    def __init__(self) -> None:
        self.offered_fingerprint: str | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered_fingerprint = key.get_fingerprint("sha256")
        return False


class _Session(asyncssh.SSHClientSession[bytes]):
    def __init__(self, splitter: LineSplitter) -> None:
        self.splitter = splitter
        self.exit_status: int | None = None
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()
        self.error: Exception | None = None

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.splitter.feed(data)

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status
        self.exited.set()

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self.exited.set()
        self.closed.set()


class SshTransport:
    """Runs commands on one host over one pinned, reused SSH connection."""

    def __init__(self, host: Host, name: str | None = None) -> None:
        if host.known_hosts is None:
            raise TransportError(
                f"host {name or host.address}: no known_hosts configured; relman pins host keys",
                host=name,
            )
        self.host = host
        self.name = name or host.address
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting = asyncio.Lock()

    async def connect(self) -> None:
        """Open the connection if it is not open yet.

        Raises :class:`HostKeyRejected` for an unknown or changed host key,
        :class:`~relman.domain.errors.ConfigError` when ``password_env`` names a variable
        that is not set, and :class:`TransportError` for any other failure (unreachable,
        timeout, auth refused).
        """
        async with self._connecting:
            if self._conn is not None:
                return
            self._conn = await self._open()

    async def _open(self) -> asyncssh.SSHClientConnection:
        host = self.host
        assert host.known_hosts is not None
        client = _PinnedClient()
        where = f"{host.address}:{host.port}"
        try:
            password = host.resolve_password()
        except ConfigError:
            raise ConfigError(
                f"host {self.name} ({where}): password_env names {host.password_env}, "
                "but that environment variable is not set (or empty)",
                host=self.name,
                variable=host.password_env,
            ) from None
        options: dict[str, object] = {
            "port": host.port,
            "known_hosts": str(host.known_hosts),
            "config": None,
            "connect_timeout": host.connect_timeout,
            "keepalive_interval": host.keepalive_interval,
            "keepalive_count_max": 3,
            "client_factory": lambda: client,
        }
        if host.user:
            options["username"] = host.user
        if host.key_file is not None:
            options["client_keys"] = [str(host.key_file)]
            options["agent_path"] = None
        if password is not None:
            options["password"] = password
            if host.key_file is None:
                options["client_keys"] = None
                options["agent_path"] = None
        try:
            return await asyncssh.connect(host.address, **options)
        except asyncssh.HostKeyNotVerifiable:
            raise HostKeyRejected(
                self.name,
                where,
                client.offered_fingerprint,
                _rejection_reason(host.known_hosts, host.address, host.port),
                str(host.known_hosts),
            ) from None
        except asyncssh.PermissionDenied:
            raise TransportError(
                f"host {self.name} ({where}): authentication refused for user "
                f"{host.user or '(default)'}",
                host=self.name,
            ) from None
        except TimeoutError:
            raise TransportError(
                f"host {self.name} ({where}): no connection within {host.connect_timeout:g} s",
                host=self.name,
            ) from None
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            # ValueErrors, not asyncssh.Error: a key_file that is no (unlocked) private key.
            # Their text ("Invalid private key", "Incorrect passphrase") holds no key data.
            raise TransportError(
                f"host {self.name} ({where}): cannot use key_file {host.key_file}: {exc}",
                host=self.name,
            ) from None
        except (OSError, asyncssh.Error) as exc:
            # str(exc) of these names addresses and reasons, never credentials.
            raise TransportError(
                f"host {self.name} ({where}): cannot connect: {exc}", host=self.name
            ) from None

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        timeout: float,  # noqa: ASYNC109 (the transport interface: seconds per command)
        on_line: LineCallback,
    ) -> CommandResult:
        """See :meth:`relman.deploy.transport.Transport.run` (connects on first use)."""
        await self.connect()
        assert self._conn is not None
        command = remote_command(argv, cwd=cwd, env=env)
        splitter = LineSplitter(on_line)
        started = time.monotonic()
        session = _Session(splitter)
        try:
            channel, _ = await self._conn.create_session(lambda: session, command, encoding=None)
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(
                f"host {self.name}: cannot start a command: {exc}", host=self.name
            ) from None
        timed_out = False
        try:
            channel.write_eof()
            try:
                await asyncio.wait_for(session.exited.wait(), timeout)
            except TimeoutError:
                timed_out = True
                with contextlib.suppress(OSError, asyncssh.Error):
                    channel.send_signal("KILL")
            # A background child that kept the channel's output open must not hold us:
            # wait a moment for the rest of the output, then close the channel.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.closed.wait(), DRAIN_GRACE)
        finally:
            channel.close()
        splitter.flush()
        if session.error is not None and session.exit_status is None and not timed_out:
            raise TransportError(
                f"host {self.name}: connection lost during a command: {session.error}",
                host=self.name,
            )
        return CommandResult(
            exit_status=None if timed_out else session.exit_status,
            duration=time.monotonic() - started,
            tail=tuple(splitter.tail),
            timed_out=timed_out,
        )

    async def close(self) -> None:
        """Close the connection (if one was opened)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(OSError, asyncssh.Error):
                await conn.wait_closed()


def _rejection_reason(known_hosts: Path, address: str, port: int) -> str:
    """``changed`` when known_hosts has an entry for this host, else ``unknown``."""
    try:
        pinned = asyncssh.read_known_hosts(str(known_hosts))
        trusted = pinned.match(address, "", port if port != 22 else None)[0]
    except (OSError, ValueError, asyncssh.Error):
        return "unknown"
    return "changed" if trusted else "unknown"
