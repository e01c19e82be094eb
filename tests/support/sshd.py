"""Real OpenSSH servers on loopback addresses, for the SSH transport's tests.

Plain Python (no pytest): :mod:`tests.support.ssh_fixtures` wraps it in fixtures.

An :class:`SshLab` owns one base directory, one client key pair, one ``authorized_keys`` and
one ``known_hosts``; :meth:`SshLab.start_host` starts an ``sshd -D -e`` per "host" on its own
loopback address (127.0.0.2, 127.0.0.3, ... -- Linux routes all of 127.0.0.0/8 to ``lo``)
and a free port, with a freshly generated ed25519 host key, and pins it in the lab's
``known_hosts`` as ``[127.0.0.N]:PORT ssh-ed25519 ...``. Layout under the base directory::

    client/id_ed25519{,.pub}, client/authorized_keys, client/known_hosts
    hosts/host-N/                  the host's root (empty; tests deploy into it)
    sshd/host-N/sshd_config, ssh_host_ed25519_key{,.pub}, sshd.pid, sshd.log

sshd runs as the current user (root here and in CI), so the host's user is that user.
Every session gets ``RELMAN_HOST_NAME`` and ``RELMAN_HOST_ROOT`` in its environment
(``SetEnv``), and the client may send ``HELLO_*`` and ``RELMAN_*`` variables (``AcceptEnv``).

With root, :meth:`SshLab.start_password_host` also makes a host that only accepts password
authentication for a throwaway local user (``useradd`` + ``chpasswd``; removed again when the
host stops). ``UsePAM no`` makes sshd check the password against ``/etc/shadow`` itself.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

#: Environment variable naming the sshd binary to use instead of the default lookup.
SSHD_ENV = "RELMAN_TEST_SSHD"
#: Where sshd is looked for when it is not on PATH (distributions keep it in sbin).
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
#: The privilege separation directory Debian's sshd chroots into when run as root.
PRIVSEP_DIR = Path("/run/sshd")

START_TIMEOUT = 15.0  # seconds for an sshd to answer with its banner
STOP_TIMEOUT = 5.0  # seconds for an sshd to exit after SIGTERM before SIGKILL
COMMAND_TIMEOUT = 30.0  # seconds for ssh-keygen, useradd, chpasswd, userdel


class SshdError(RuntimeError):
    """An sshd could not be started or stopped, or a helper command failed."""


# --------------------------------------------------------------------------- discovery


def find_sshd() -> Path | None:
    """Return the absolute path of the sshd binary, or None.

    ``$RELMAN_TEST_SSHD`` wins when set; otherwise PATH, then /usr/sbin, /sbin,
    /usr/local/sbin. sshd insists on being started by absolute path (it re-executes itself).
    """
    explicit = os.environ.get(SSHD_ENV)
    if explicit:
        path = Path(explicit)
        return path.resolve() if path.is_file() and os.access(path, os.X_OK) else None
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    found = shutil.which("sshd", path=search)
    return Path(found).resolve() if found else None


def find_ssh_keygen() -> Path | None:
    """Return the absolute path of ssh-keygen, or None when it is not installed."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/bin"])
    found = shutil.which("ssh-keygen", path=search)
    return Path(found).resolve() if found else None


def sshd_unavailable_reason() -> str | None:
    """Say why real sshd hosts cannot run here, or return None when they can.

    Checks the sshd and ssh-keygen binaries, that 127.0.0.2 can be bound (Linux's loopback
    /8) and, when running as root, that the privilege separation directory exists (it is
    created when missing).
    """
    if find_sshd() is None:
        return (
            "OpenSSH sshd not found (looked on PATH and in /usr/sbin, /sbin, /usr/local/sbin; "
            f"set {SSHD_ENV} or install openssh-server)"
        )
    if find_ssh_keygen() is None:
        return "ssh-keygen not found (install openssh-client)"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.2", 0))
    except OSError as exc:
        return f"cannot bind 127.0.0.2 (needs the whole 127.0.0.0/8 on loopback): {exc}"
    return ensure_privsep_dir()


def ensure_privsep_dir() -> str | None:
    """As root, create sshd's privilege separation directory if missing (0755).

    Returns None when it is there (or not needed: sshd run by another user does not chroot),
    else why it could not be created.
    """
    if os.geteuid() != 0 or PRIVSEP_DIR.is_dir():
        return None
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        return f"sshd needs {PRIVSEP_DIR} and it cannot be created: {exc}"
    return None


def password_hosts_unavailable_reason() -> str | None:
    """Say why a password-auth host (throwaway local user) cannot be made, or None."""
    if os.geteuid() != 0:
        return "a password-authentication host needs root (it creates a local user)"
    missing = [tool for tool in ("useradd", "chpasswd", "userdel") if _which_sbin(tool) is None]
    if missing:
        return f"a password-authentication host needs {', '.join(missing)} (package passwd)"
    if not Path("/etc/shadow").is_file():
        return "a password-authentication host needs /etc/shadow (UsePAM no reads it)"
    return None


def free_port(address: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``address`` right now (the OS picks it).

    Another process may take it before the caller binds it; callers that start a server on
    it retry on "address in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key pair made by ssh-keygen (no passphrase)."""

    private_key: Path
    public_key: Path

    @property
    def public_line(self) -> str:
        """``"ssh-ed25519 AAAA..."``: the key type and base64 body, without the comment."""
        kind, body, *_ = self.public_key.read_text(encoding="utf-8").split()
        return f"{kind} {body}"


@dataclass(frozen=True)
class LocalUser:
    """A throwaway local account made for a password-authentication host."""

    name: str
    uid: int
    password: str
    home: Path


@dataclass(frozen=True)
class SshHost:
    """One running sshd, i.e. one "server" of the tests.

    Attributes:
        name: ``host-N``; also ``$RELMAN_HOST_NAME`` in its sessions.
        address: the loopback address it listens on (``127.0.0.N``).
        port: its TCP port.
        user: the login name to use.
        root: the host's own directory (empty at start; ``$RELMAN_HOST_ROOT`` in sessions).
        client_key: private key accepted by the host; None for a password host.
        known_hosts: the lab's known_hosts, pinning this host and every other host the lab
            started (so one file serves a deploy to several hosts).
        host_key: the host's public key, ``"ssh-ed25519 AAAA..."``.
        password: the user's password for a password host, else None.
        log_path: sshd's own log (``-e``, LogLevel VERBOSE); useful in failure messages.
        config_path: the sshd_config it runs with.
        pid: the sshd listener's process id.
    """

    name: str
    address: str
    port: int
    user: str
    root: Path
    client_key: Path | None
    known_hosts: Path
    host_key: str
    password: str | None = field(default=None, repr=False)
    log_path: Path = field(default=Path(), compare=False)
    config_path: Path = field(default=Path(), compare=False)
    pid: int = 0

    @property
    def host_pattern(self) -> str:
        """How known_hosts names this host: ``[127.0.0.N]:PORT``."""
        return f"[{self.address}]:{self.port}"

    @property
    def known_hosts_line(self) -> str:
        """This host's correct known_hosts line."""
        return f"{self.host_pattern} {self.host_key}"

    def sshd_log(self) -> str:
        """The sshd log so far ("" when it does not exist)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class _Running:
    host: SshHost
    process: subprocess.Popen[bytes]
    user: LocalUser | None = None
    owned_root: Path | None = None  # a root outside the lab dir, removed at stop


@contextlib.asynccontextmanager
async def asyncssh_connect(
    host: SshHost,
    *,
    known_hosts: Path | None = None,
    client_key: Path | None = None,
    password: str | None = None,
    connect_timeout: float = 20.0,
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """``asyncssh.connect`` to ``host`` as ``host.user`` with nothing from ``~/.ssh``.

    Args:
        host: the host to reach.
        known_hosts: the known_hosts file to verify against (default ``host.known_hosts``).
        client_key: private key to offer (default ``host.client_key``; none for a password
            host).
        password: password to offer (default ``host.password``).
        connect_timeout: seconds to wait for the connection and authentication.

    Yields:
        The open connection (ssh agent and ~/.ssh/config are not used); closed on exit.

    Raises:
        asyncssh.HostKeyNotVerifiable: the host's key is not the pinned one (or unknown).
        asyncssh.PermissionDenied: authentication failed.
    """
    key = client_key or host.client_key
    async with asyncssh.connect(
        host.address,
        host.port,
        username=host.user,
        known_hosts=str(known_hosts or host.known_hosts),
        client_keys=[str(key)] if key else None,
        password=password if password is not None else host.password,
        agent_path=None,
        config=None,
        connect_timeout=connect_timeout,
    ) as conn:
        yield conn


# --------------------------------------------------------------------------- the lab


class SshLab:
    """Starts and stops sshd hosts that share a client key and a known_hosts file.

    Use as a context manager, or call :meth:`close` (stops every host it started, removes
    the users it created). Not thread-safe; one lab per test session is enough.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        sshd: Path | None = None,
        ssh_keygen: Path | None = None,
    ) -> None:
        """Prepare ``base_dir`` (created if missing) and generate the client key pair.

        Raises:
            SshdError: sshd or ssh-keygen is missing (see :func:`sshd_unavailable_reason`)
                or ssh-keygen fails.
        """
        found_sshd = sshd or find_sshd()
        found_keygen = ssh_keygen or find_ssh_keygen()
        if found_sshd is None or found_keygen is None:
            raise SshdError(sshd_unavailable_reason() or "sshd or ssh-keygen not found")
        problem = ensure_privsep_dir()
        if problem:
            raise SshdError(problem)
        self.sshd = found_sshd
        self.ssh_keygen = found_keygen
        self.base_dir = base_dir.resolve()
        self.user = pwd.getpwuid(os.getuid()).pw_name
        client_dir = self.base_dir / "client"
        client_dir.mkdir(parents=True, exist_ok=True)
        self.client_key = generate_key(self.ssh_keygen, client_dir / "id_ed25519", "relman-test")
        self.authorized_keys = client_dir / "authorized_keys"
        self.authorized_keys.write_text(self.client_key.public_line + " relman-test\n")
        self.known_hosts = client_dir / "known_hosts"
        self.known_hosts.write_text("")
        self._running: dict[str, _Running] = {}
        self._started = 0

    def __enter__(self) -> SshLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def hosts(self) -> list[SshHost]:
        """The hosts running now, in start order."""
        return [r.host for r in self._running.values()]

    def start_hosts(self, n: int) -> list[SshHost]:
        """Start ``n`` key-authentication hosts; see :meth:`start_host`."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return [self.start_host() for _ in range(n)]

    def start_host(self) -> SshHost:
        """Start one host accepting the lab's client key for the current user.

        Returns:
            The running :class:`SshHost`, already pinned in :attr:`known_hosts` and answering
            with its SSH banner.

        Raises:
            SshdError: sshd exited or did not answer within START_TIMEOUT seconds (the
                message carries its log).
        """
        name, address, root, etc = self._next_slot()
        root.mkdir(parents=True)
        return self._launch(name, address, root, etc, user=None)

    def start_password_host(self) -> SshHost:
        """Start a host that accepts only password authentication, for a throwaway user.

        The user (random name ``rmt…``, random password, shell /bin/sh) is created with
        useradd/chpasswd; its home is the host's root, a 0700 directory it owns under the
        system temp directory (the lab directory may not be reachable for other users).
        :meth:`stop_host` ends the user's processes, deletes the user and the directory.

        Raises:
            SshdError: not root, the account tools are missing (see
                :func:`password_hosts_unavailable_reason`), or sshd does not start.
        """
        reason = password_hosts_unavailable_reason()
        if reason:
            raise SshdError(reason)
        name, address, _unused_root, etc = self._next_slot()
        # /tmp, not the lab dir or $TMPDIR: every parent must be traversable for the user.
        tmp = "/tmp" if Path("/tmp").is_dir() else None
        root = Path(tempfile.mkdtemp(prefix=f"relman-{name}-", dir=tmp))
        try:
            user = create_local_user(root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        try:
            return self._launch(name, address, root, etc, user=user)
        except BaseException:
            remove_local_user(user)
            shutil.rmtree(root, ignore_errors=True)
            raise

    def stop_host(self, host: SshHost) -> None:
        """Stop ``host``'s sshd and its open sessions; remove its user if it made one.

        Stopping a host that is not running is a no-op. Processes the sessions started in
        the background (e.g. a service run with nohup) are NOT stopped, except for a password
        host, whose user's processes all end before the user is deleted.
        """
        running = self._running.pop(host.name, None)
        if running is None:
            return
        session_pids = _children_of(running.process.pid)
        _terminate(running.process)
        for pid in session_pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        if running.user is not None:
            remove_local_user(running.user)
        if running.owned_root is not None:
            shutil.rmtree(running.owned_root, ignore_errors=True)

    def close(self) -> None:
        """Stop every host still running (in reverse start order)."""
        for running in reversed(list(self._running.values())):
            self.stop_host(running.host)

    # ---- known_hosts variants

    def write_known_hosts(self, dest: Path, hosts: Iterable[SshHost]) -> Path:
        """Write a known_hosts at ``dest`` pinning exactly ``hosts`` (correct keys)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("".join(h.known_hosts_line + "\n" for h in hosts))
        return dest

    def known_hosts_with_wrong_key(self, host: SshHost, dest: Path) -> Path:
        """Write a known_hosts at ``dest`` that pins ``host`` to a different, new ed25519 key.

        Every other running host is pinned correctly, so only ``host`` looks "changed".
        Returns ``dest``.
        """
        wrong = generate_key(self.ssh_keygen, dest.parent / f"{dest.name}.wrong-key", "wrong")
        lines = [
            f"{h.host_pattern} {wrong.public_line}" if h.name == host.name else h.known_hosts_line
            for h in self._hosts_including(host)
        ]
        dest.write_text("".join(line + "\n" for line in lines))
        return dest

    def known_hosts_without(self, host: SshHost, dest: Path) -> Path:
        """Write a known_hosts at ``dest`` pinning every running host except ``host``.

        ``host``'s key is then unknown. Returns ``dest`` (possibly an empty file).
        """
        others = [h for h in self.hosts if h.name != host.name]
        return self.write_known_hosts(dest, others)

    # ---- internals

    def _hosts_including(self, host: SshHost) -> list[SshHost]:
        hosts = self.hosts
        return hosts if any(h.name == host.name for h in hosts) else [*hosts, host]

    def _next_slot(self) -> tuple[str, str, Path, Path]:
        self._started += 1
        n = self._started
        name = f"host-{n}"
        address = f"127.0.0.{2 + (n - 1) % 253}"  # 127.0.0.2 .. 127.0.0.254, then wraps
        etc = self.base_dir / "sshd" / name
        etc.mkdir(parents=True)
        return name, address, self.base_dir / "hosts" / name, etc

    def _launch(
        self, name: str, address: str, root: Path, etc: Path, *, user: LocalUser | None
    ) -> SshHost:
        host_key = generate_key(self.ssh_keygen, etc / "ssh_host_ed25519_key", name)
        config = etc / "sshd_config"
        log = etc / "sshd.log"
        last_log = ""
        for _attempt in range(5):  # a port picked by free_port() may be taken meanwhile
            port = free_port(address)
            config.write_text(
                _sshd_config(
                    address=address,
                    port=port,
                    host_key=host_key.private_key,
                    pid_file=etc / "sshd.pid",
                    authorized_keys=self.authorized_keys,
                    login=user.name if user else self.user,
                    password_auth=user is not None,
                    env={"RELMAN_HOST_NAME": name, "RELMAN_HOST_ROOT": str(root)},
                )
            )
            with log.open("ab") as log_file:
                process = subprocess.Popen(
                    [str(self.sshd), "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            if _wait_for_banner(address, port, process, START_TIMEOUT):
                host = SshHost(
                    name=name,
                    address=address,
                    port=port,
                    user=user.name if user else self.user,
                    root=root,
                    client_key=None if user else self.client_key.private_key,
                    known_hosts=self.known_hosts,
                    host_key=host_key.public_line,
                    password=user.password if user else None,
                    log_path=log,
                    config_path=config,
                    pid=process.pid,
                )
                self._running[name] = _Running(
                    host, process, user=user, owned_root=root if user else None
                )
                with self.known_hosts.open("a") as known:
                    known.write(host.known_hosts_line + "\n")
                return host
            _terminate(process)
            last_log = log.read_text(errors="replace")
            if "Address already in use" not in last_log:
                break
        raise SshdError(
            f"sshd for {name} on {address} did not start within {START_TIMEOUT:.0f} s; "
            f"config {config}; log:\n{last_log[-4000:]}"
        )


# --------------------------------------------------------------------------- helpers


def generate_key(ssh_keygen: Path, path: Path, comment: str) -> KeyPair:
    """Generate an ed25519 key pair without passphrase at ``path`` and ``path.pub``.

    Raises:
        SshdError: ssh-keygen failed or took longer than COMMAND_TIMEOUT seconds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for existing in (path, path.with_name(path.name + ".pub")):
        existing.unlink(missing_ok=True)
    _run([str(ssh_keygen), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return KeyPair(private_key=path, public_key=path.with_name(path.name + ".pub"))


def create_local_user(home: Path) -> LocalUser:
    """Create a throwaway login user whose home is ``home`` (chowned to it, mode 0700).

    Returns:
        The user, with its random password already set (chpasswd).

    Raises:
        SshdError: useradd or chpasswd failed (the user is removed again on a chpasswd error).
    """
    name = "rmt" + secrets.token_hex(5)
    password = secrets.token_urlsafe(18)
    useradd = _which_sbin("useradd") or "useradd"
    chpasswd = _which_sbin("chpasswd") or "chpasswd"
    _run(
        [
            useradd,
            "--no-create-home",
            "--home-dir",
            str(home),
            "--shell",
            "/bin/sh",
            "--user-group",
            name,
        ]
    )
    entry = pwd.getpwnam(name)
    user = LocalUser(name=name, uid=entry.pw_uid, password=password, home=home)
    try:
        _run([chpasswd], stdin=f"{name}:{password}\n")
        os.chown(home, entry.pw_uid, entry.pw_gid)
        home.chmod(0o700)
    except BaseException:
        remove_local_user(user)
        raise
    return user


def remove_local_user(user: LocalUser) -> None:
    """End ``user``'s processes (by pid), then delete the user and its group.

    Raises:
        SshdError: userdel failed for another reason than the user being gone already.
    """
    _kill_processes_of(user.uid)
    try:
        pwd.getpwnam(user.name)
    except KeyError:
        return
    userdel = _which_sbin("userdel") or "userdel"
    _run([userdel, user.name])
    groupdel = _which_sbin("groupdel")
    group_left = (
        subprocess.run(
            ["getent", "group", user.name],
            capture_output=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        ).returncode
        == 0
    )
    if groupdel and group_left:
        _run([groupdel, user.name])


def pid_running(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not Path("/proc/self").exists()  # no /proc: trust kill(0)
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def wait_until_gone(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` is gone (or a zombie); False if still running after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while pid_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _wait_for_banner(
    address: str, port: int, process: subprocess.Popen[bytes], timeout: float
) -> bool:
    """Poll until sshd answers with ``SSH-`` on address:port; False if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((address, port), timeout=1.0) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _children_of(parent: int) -> list[int]:
    """Direct children of ``parent`` (Linux /proc; [] where there is no /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _kill_processes_of(uid: int) -> None:
    """SIGTERM, then SIGKILL, every process of ``uid`` found in /proc (by pid)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                pids.append(int(status.parent.name))
                break
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        pids = [pid for pid in pids if not wait_until_gone(pid, STOP_TIMEOUT)]
        if not pids:
            return


def _which_sbin(tool: str) -> str | None:
    return shutil.which(tool, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS]))


def _run(argv: list[str], *, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SshdError(f"{argv[0]}: {exc}") from exc
    if done.returncode != 0:
        raise SshdError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _quote(value: str) -> str:
    if '"' in value or "\n" in value:
        raise SshdError(f"cannot put {value!r} into sshd_config")
    return f'"{value}"'


def _sshd_config(
    *,
    address: str,
    port: int,
    host_key: Path,
    pid_file: Path,
    authorized_keys: Path,
    login: str,
    password_auth: bool,
    env: dict[str, str],
) -> str:
    lines = [
        f"ListenAddress {address}:{port}",
        f"HostKey {_quote(str(host_key))}",
        f"PidFile {_quote(str(pid_file))}",
        f"AuthorizedKeysFile {_quote(str(authorized_keys))}",
        f"AllowUsers {login}",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        "UseDNS no",
        "LogLevel VERBOSE",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "MaxStartups 100",
        "MaxSessions 100",
        "LoginGraceTime 30",
        "AcceptEnv HELLO_* RELMAN_*",
        "SetEnv " + " ".join(_quote(f"{k}={v}") for k, v in env.items()),
        "Subsystem sftp internal-sftp",
    ]
    if password_auth:
        lines += [
            "PubkeyAuthentication no",
            "PasswordAuthentication yes",
            "AuthenticationMethods password",
        ]
    else:
        lines += [
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "AuthenticationMethods publickey",
        ]
    return "\n".join(lines) + "\n"
