"""Benchmark: relman, Ansible and raw parallel ssh deploying hello-service side by side.

A script run by hand, not a test (see benchmarks/README.md)::

    .venv/bin/python benchmarks/side_by_side.py [--hosts 4,16] [--rounds 3]
        [--slow-shell both|on|off] [--tools relman,ansible,ssh]

For each host count it starts that many real OpenSSH ``sshd`` servers on 127.0.0.2, … (the
test suite's machinery, ``tests/support/sshd.py``; loopback only), builds the sample
hello-service repository (:func:`relman.demo.sample_repo.build_sample_repo`) and deploys it
to every host with three tools, each into its own checkout and port on the same hosts:

* **relman** — the real CLI in a subprocess, as a user runs it: ``relman deploy hello
  v1.1.0 --env production`` and ``relman rollback hello --env production --to v1.0.0``,
  with a relman.toml and a SQLite database (``relman db upgrade`` first);
* **Ansible** — ``ansible-playbook`` from ansible-core in the benchmark's own virtualenv
  (``benchmarks/.venv-ansible``, created when missing), tuned as an expert would: forks ≥ N,
  pipelining, ControlMaster/ControlPersist, no fact gathering, strategy linear (measured
  as fast as free here);
* **raw ssh** — one ``ssh`` per host, all in parallel, running the same commands joined
  with ``&&``, then a urllib loop per host waiting for ``/health``.

The remote steps are the same for all three: fetch the tags, check out the tag, restart the
service, wait (from this machine) until ``/health`` reports the version. A round times, per
tool, one upgrade (v1.0.0 → v1.1.0) and one rollback (v1.1.0 → v1.0.0); the tool order
rotates from round to round. ``--slow-shell on`` gives the hosts' user a ``~/.bashrc`` that
sleeps 0.3 s, so every remote command pays for a slow login shell.

Output: Markdown tables (medians, ratios, ssh sessions per host, the team's goals) on stdout;
progress on stderr; ``--json FILE`` also writes every sample.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# relman and the tests' sshd machinery from the checkout this script is in
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from relman.demo.sample_repo import build_sample_repo  # noqa: E402
from tests.support.hello import ServiceReaper  # noqa: E402
from tests.support.sshd import SshHost, SshLab, free_port, sshd_unavailable_reason  # noqa: E402

TOOLS = ("relman", "ansible", "ssh")
LABELS = {"relman": "relman", "ansible": "Ansible", "ssh": "raw ssh"}
#: (operation, tag it deploys); a round runs both, in this order, for every tool.
OPERATIONS = (("upgrade", "v1.1.0"), ("rollback", "v1.0.0"))
FIRST_TAG = "v1.0.0"
#: Who relman deploys as in the benchmark (a releaser in its [policy]).
BENCH_ACTOR = "bench"
ANSIBLE_REQUIREMENTS = ROOT / "benchmarks" / "requirements-ansible.txt"
DEFAULT_ANSIBLE_VENV = ROOT / "benchmarks" / ".venv-ansible"

HEALTH_INTERVAL = 0.1  # seconds between two /health polls, for every tool
HEALTH_ATTEMPTS = 100
HEALTH_TIMEOUT = 2.0  # seconds per /health request
SSH_CONNECT_TIMEOUT = 30  # seconds
SHELL_DELAY = 0.3  # seconds the slow ~/.bashrc sleeps
SESSION_LINE = "Starting session: "  # sshd (LogLevel VERBOSE) logs one per command


def version_of(tag: str) -> str:
    return tag.removeprefix("v")


# --------------------------------------------------------------------------- processes


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[int | None, str]:
    """Run ``argv`` in a session of its own; return (exit code or None on timeout, output).

    Output goes to a file, not a pipe, so a daemon it leaves behind (an ssh ControlPersist
    master) cannot hold us up. On timeout the whole process group is killed (by its id).
    """
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        code: int | None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        out.seek(0)
        return code, out.read().decode("utf-8", errors="replace")


def pids_mentioning(text: str) -> list[int]:
    """Processes (other than this one) whose command line contains ``text`` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        pid = int(cmdline.parent.name)
        if text in args and pid != os.getpid():
            found.append(pid)
    return found


def kill_pids(pids: Iterable[int]) -> None:
    """SIGTERM each pid, then SIGKILL what is still there half a second later."""
    pids = list(pids)
    if not pids:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        time.sleep(0.5)
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not pids:
            return


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------- hosts


def ssh_options(host: SshHost) -> list[str]:
    """The ssh client options every ssh here uses: the lab's key and pinned known_hosts."""
    assert host.client_key is not None
    return [
        "-i",
        str(host.client_key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={host.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={SSH_CONNECT_TIMEOUT}",
        "-p",
        str(host.port),
    ]


def ssh_run(host: SshHost, command: str, timeout: float = 60.0) -> tuple[int | None, str]:
    """Run ``command`` on ``host`` with the plain ``ssh`` client."""
    argv = ["ssh", *ssh_options(host), f"{host.user}@{host.address}", command]
    return run_bounded(argv, timeout=timeout)


def wait_for_banner(host: SshHost, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((host.address, host.port), timeout=1.0) as sock,
        ):
            if sock.recv(64).startswith(b"SSH-"):
                return
        time.sleep(0.05)
    raise SystemExit(f"{host.name}: sshd did not come back after SIGHUP:\n{host.sshd_log()}")


def give_home(host: SshHost, home: Path) -> None:
    """Make ``home`` the ``$HOME`` of ``host``'s sessions, so its ``.bashrc`` is ours.

    The lab's sshd_config sets RELMAN_HOST_* with ``SetEnv`` (sshd uses the first SetEnv
    line only): HOME is added to that line, then sshd re-executes itself on SIGHUP. The
    user's login shell (bash) reads ``$HOME/.bashrc`` for every ssh command (Debian's bash
    does so for sshd sessions), which is how the slow login shell is simulated; this also
    keeps the machine's own ``~/.bashrc`` (whatever it costs) out of the figures.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / ".bashrc").write_text("")
    lines = host.config_path.read_text().splitlines()
    if not any(line.startswith("SetEnv ") for line in lines):
        raise SystemExit(f"{host.config_path}: no SetEnv line to add HOME to")
    lines = [f'{line} "HOME={home}"' if line.startswith("SetEnv ") else line for line in lines]
    host.config_path.write_text("\n".join(lines) + "\n")
    os.kill(host.pid, signal.SIGHUP)
    time.sleep(0.1)
    wait_for_banner(host)
    for _ in range(50):
        code, out = ssh_run(host, 'printf "%s" "$HOME"', timeout=30)
        if code == 0 and out.strip().endswith(str(home)):
            return
        time.sleep(0.1)
    raise SystemExit(f"{host.name}: sessions do not get HOME={home}: {out!r}")


def set_slow_shell(homes: Iterable[Path], delay: float) -> None:
    """A ``.bashrc`` that sleeps ``delay`` seconds (0: an empty one) in every home."""
    text = f"sleep {delay}\n" if delay > 0 else "# fast login shell\n"
    for home in homes:
        (home / ".bashrc").write_text(text)


def login_cost(host: SshHost, times: int = 3) -> float:
    """Median seconds of ``ssh host true`` (connect, authenticate, the login shell)."""
    samples = []
    for _ in range(times):
        started = time.monotonic()
        code, out = ssh_run(host, "true", timeout=60)
        if code != 0:
            raise SystemExit(f"ssh {host.name} true failed: {out}")
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def sessions(host: SshHost) -> int:
    """How many sessions (remote commands) the host's sshd has started so far."""
    return host.sshd_log().count(SESSION_LINE)


def served_version(address: str, port: int) -> str | None:
    """The version ``http://address:port/health`` reports now (None: no 200 answer)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{address}:{port}/health", timeout=HEALTH_TIMEOUT) as answer:
            if answer.status != 200:
                return None
            body = json.loads(answer.read())
    except (OSError, ValueError):
        return None
    version = body.get("version") if isinstance(body, dict) else None
    return str(version) if version is not None else None


def wait_for_version(address: str, port: int, version: str) -> bool:
    """Poll /health every HEALTH_INTERVAL s, up to HEALTH_ATTEMPTS times, for ``version``."""
    for attempt in range(HEALTH_ATTEMPTS):
        if served_version(address, port) == version:
            return True
        if attempt + 1 < HEALTH_ATTEMPTS:
            time.sleep(HEALTH_INTERVAL)
    return False


# --------------------------------------------------------------------------- samples


@dataclass
class Sample:
    """One timed deploy of one tool."""

    tool: str
    operation: str
    tag: str
    wall: float
    ok: bool
    sessions: int = 0  # most ssh sessions (remote commands) any host saw during it
    error: str = ""
    engine: float | None = None  # relman: the deploy engine's own duration (summary.json)


@dataclass
class Stage:
    """What every tool needs to know about one host count."""

    hosts: list[SshHost]
    repo_url: str
    work: Path
    timeout: float  # seconds per deploy
    hello_python: str = sys.executable
    reaper: ServiceReaper = field(default_factory=ServiceReaper)
    ports: set[int] = field(default_factory=set)

    def new_port(self) -> int:
        """A free port for one tool's hello-service, not given to another tool."""
        while (port := free_port(self.hosts[0].address)) in self.ports:
            pass
        self.ports.add(port)
        return port


class Tool:
    """One way of deploying; subclasses set ``name`` and implement ``prepare``/``deploy``."""

    name = ""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.port = stage.new_port()
        self.workdir_name = f"hello-{self.name}"
        for host in stage.hosts:
            stage.reaper.watch(host.root / self.workdir_name)

    def workdir(self, host: SshHost) -> str:
        return str(host.root / self.workdir_name)

    def env(self, host: SshHost) -> dict[str, str]:
        """hello-service's settings on ``host`` (the same for every tool but the port)."""
        return {
            "HELLO_HOST": host.address,
            "HELLO_PORT": str(self.port),
            "HELLO_PYTHON": self.stage.hello_python,
        }

    def prepare(self) -> None:
        """First deploy of FIRST_TAG (clone, start): not timed."""
        raise NotImplementedError

    def deploy(self, operation: str, tag: str) -> str:
        """Deploy ``tag`` to every host; return "" or what went wrong."""
        raise NotImplementedError

    def after(self) -> None:
        """Called after each deploy, outside the timing."""

    def engine_seconds(self) -> float | None:
        """The tool's own account of the last deploy's duration, if it gives one."""
        return None

    def close(self) -> None:
        """Stop whatever this tool left running (not the services: the reaper does)."""

    def measure(self, operation: str, tag: str) -> Sample:
        before = {host.name: sessions(host) for host in self.stage.hosts}
        started = time.monotonic()
        error = self.deploy(operation, tag)
        wall = time.monotonic() - started
        self.after()
        used = max(sessions(host) - before[host.name] for host in self.stage.hosts)
        if not error:
            wrong = [
                f"{host.name} serves {seen}"
                for host in self.stage.hosts
                if (seen := served_version(host.address, self.port)) != version_of(tag)
            ]
            error = "; ".join(wrong)
        engine = self.engine_seconds()
        return Sample(self.name, operation, tag, wall, not error, used, error, engine)


class RelmanTool(Tool):
    """``relman deploy``/``relman rollback`` as a user runs them (a subprocess)."""

    name = "relman"

    def __init__(self, stage: Stage, relman: Path) -> None:
        super().__init__(stage)
        self.relman = relman
        self.project = stage.work / "relman"
        self.project.mkdir()
        self.process_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RELMAN_", "LOOM_")) and key != "DATABASE_URL"
        }
        self.process_env.update(
            RELMAN_DATABASE_URL=f"sqlite:///{self.project / 'relman.db'}",
            RELMAN_ACTOR=BENCH_ACTOR,
            PYTHONPATH=str(ROOT / "src"),  # the relman of this checkout
            COLUMNS="200",
        )
        (self.project / "relman.toml").write_text(self.config(), encoding="utf-8")
        self.summaries: set[Path] = set()

    def engine_seconds(self) -> float | None:
        """``duration_seconds`` of the evidence summary the last deploy wrote."""
        now = set(self.project.rglob("summary.json"))
        new, self.summaries = now - self.summaries, now
        if len(new) != 1:
            return None
        try:
            seconds = json.loads(new.pop().read_text(encoding="utf-8"))["duration_seconds"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return float(seconds) if isinstance(seconds, int | float) else None

    def startup(self) -> float:
        """Seconds of one ``relman --help``: the CLI's start-up (imports, settings)."""
        started = time.monotonic()
        error = self.cli("--help")
        if error:
            raise SystemExit(error)
        return time.monotonic() - started

    def config(self) -> str:
        q = json.dumps  # a JSON string is a TOML basic string
        lines = [
            "[services.hello]",
            f"repo = {q(self.stage.repo_url)}",
            f"workdir = {q('{root}/' + self.workdir_name)}",
            'start_command = ["sh", "start.sh"]',
            'log_file = "service.log"',
            "[services.hello.health]",
            f"url = {q(f'http://{{address}}:{self.port}/health')}",
            f"attempts = {HEALTH_ATTEMPTS}",
            f"interval = {HEALTH_INTERVAL}",
            f"timeout = {HEALTH_TIMEOUT}",
            "[services.hello.env]",
            'HELLO_HOST = "{address}"',
            f"HELLO_PORT = {q(str(self.port))}",
            f"HELLO_PYTHON = {q(self.stage.hello_python)}",
        ]
        for host in self.stage.hosts:
            lines += [
                f"[hosts.{host.name}]",
                'transport = "ssh"',
                f"address = {q(host.address)}",
                f"port = {host.port}",
                f"user = {q(host.user)}",
                f"key_file = {q(str(host.client_key))}",
                f"known_hosts = {q(str(host.known_hosts))}",
                f"root = {q(str(host.root))}",
                f"connect_timeout = {SSH_CONNECT_TIMEOUT}.0",
                f"command_timeout = {self.stage.timeout}",
            ]
        names = ", ".join(q(host.name) for host in self.stage.hosts)
        lines += ["[environments.production]", f"hosts = [{names}]"]
        # Deploys to production by hand need a releaser (the policy, issue 15 item 5).
        lines += ["[policy]", f"releaser = [{q('cli:' + BENCH_ACTOR)}]"]
        return "\n".join(lines) + "\n"

    def cli(self, *args: str) -> str:
        code, out = run_bounded(
            [str(self.relman), *args],
            timeout=self.stage.timeout,
            env=self.process_env,
            cwd=self.project,
        )
        if code == 0:
            return ""
        said = "timed out" if code is None else f"exit {code}"
        return f"relman {' '.join(args)}: {said}\n{tail(out)}"

    def prepare(self) -> None:
        error = self.cli("db", "upgrade") or self.cli(
            "deploy", "hello", FIRST_TAG, "--env", "production"
        )
        if error:
            raise SystemExit(f"relman setup failed: {error}")
        self.engine_seconds()  # remember the first deploy's summary

    def deploy(self, operation: str, tag: str) -> str:
        if operation == "rollback":
            return self.cli("rollback", "hello", "--env", "production", "--to", tag)
        return self.cli("deploy", "hello", tag, "--env", "production")


PLAYBOOK = """\
- name: deploy hello-service
  hosts: hello
  gather_facts: false
  tasks:
    - name: fetch the tags and check out the tag
      ansible.builtin.git:
        repo: "{{ repo }}"
        dest: "{{ workdir }}"
        version: "{{ tag }}"
        force: true
    - name: restart hello-service
      ansible.builtin.command:
        cmd: sh start.sh
        chdir: "{{ workdir }}"
      environment:
        HELLO_HOST: "{{ ansible_host }}"
        HELLO_PORT: "{{ hello_port }}"
        HELLO_PYTHON: "{{ hello_python }}"
    - name: wait for /health to show the version
      ansible.builtin.uri:
        url: "http://{{ ansible_host }}:{{ hello_port }}/health"
        return_content: true
        use_proxy: false
        timeout: HEALTH_TIMEOUT
      register: health
      until: health.json is defined and health.json.version == version
      retries: HEALTH_RETRIES
      delay: HEALTH_INTERVAL
      delegate_to: localhost
"""


class AnsibleTool(Tool):
    """``ansible-playbook`` with the same steps, configured for speed."""

    name = "ansible"

    def __init__(self, stage: Stage, venv: Path, strategy: str) -> None:
        super().__init__(stage)
        self.playbook_bin = venv / "bin" / "ansible-playbook"
        self.dir = stage.work / "ansible"
        # ControlPath sockets must stay short (108 bytes): their own folder under /tmp
        self.control_dir = Path(tempfile.mkdtemp(prefix="rb-cp-", dir="/tmp"))
        (self.dir / "local-tmp").mkdir(parents=True)
        self.playbook = self.dir / "deploy.yml"
        self.playbook.write_text(
            PLAYBOOK.replace("HEALTH_TIMEOUT", f"{HEALTH_TIMEOUT:g}")
            .replace("HEALTH_RETRIES", str(HEALTH_ATTEMPTS - 1))
            .replace("HEALTH_INTERVAL", f"{HEALTH_INTERVAL:g}")
        )
        inventory = self.dir / "hosts.ini"
        inventory.write_text(self.inventory())
        remote_python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        known_hosts = stage.hosts[0].known_hosts
        config = [
            "[defaults]",
            f"inventory = {inventory}",
            f"forks = {max(5, len(stage.hosts))}",
            f"strategy = {strategy}",
            "gathering = explicit",
            "host_key_checking = True",
            f"interpreter_python = {remote_python}",
            "retry_files_enabled = False",
            f"local_tmp = {self.dir / 'local-tmp'}",
            "deprecation_warnings = False",
            "[ssh_connection]",
            "pipelining = True",
            "ssh_args = -o ControlMaster=auto -o ControlPersist=60s "
            f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes "
            "-o IdentitiesOnly=yes",
            f"control_path_dir = {self.control_dir}",
            "control_path = %(directory)s/%%C",
        ]
        self.config_path = self.dir / "ansible.cfg"
        self.config_path.write_text("\n".join(config) + "\n")
        self.process_env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.process_env.update(
            ANSIBLE_CONFIG=str(self.config_path),
            ANSIBLE_HOME=str(self.dir / "home"),
            ANSIBLE_NOCOLOR="1",
        )

    def inventory(self) -> str:
        host = self.stage.hosts[0]
        lines = ["[hello]"]
        lines += [
            f"{h.name} ansible_host={h.address} ansible_port={h.port} workdir={self.workdir(h)}"
            for h in self.stage.hosts
        ]
        lines += [
            "[hello:vars]",
            f"ansible_user={host.user}",
            f"ansible_ssh_private_key_file={host.client_key}",
            f"repo={self.stage.repo_url}",
            f"hello_port={self.port}",
            f"hello_python={self.stage.hello_python}",
        ]
        return "\n".join(lines) + "\n"

    def deploy(self, operation: str, tag: str) -> str:
        extra = json.dumps({"tag": tag, "version": version_of(tag)})
        code, out = run_bounded(
            [str(self.playbook_bin), str(self.playbook), "-e", extra],
            timeout=self.stage.timeout,
            env=self.process_env,
            cwd=self.dir,
        )
        if code == 0:
            return ""
        said = "timed out" if code is None else f"exit {code}"
        return f"ansible-playbook {tag}: {said}\n{tail(out)}"

    def prepare(self) -> None:
        error = self.deploy("first", FIRST_TAG)  # the git module clones
        self.after()
        if error:
            raise SystemExit(f"Ansible setup failed: {error}")

    def after(self) -> None:
        """Close the ControlPersist masters: every timed run starts cold, as a deploy does
        minutes or days after the previous one."""
        for host in self.stage.hosts:
            run_bounded(
                [
                    "ssh",
                    "-o",
                    f"ControlPath={self.control_dir}/%C",
                    "-O",
                    "exit",
                    "-p",
                    str(host.port),
                    f"{host.user}@{host.address}",
                ],
                timeout=10,
            )
        kill_pids(pids_mentioning(str(self.control_dir)))

    def close(self) -> None:
        self.after()
        with contextlib.suppress(OSError):
            for leftover in self.control_dir.iterdir():
                leftover.unlink()
            self.control_dir.rmdir()


class SshTool(Tool):
    """One ``ssh`` per host in parallel, the commands joined with ``&&``, then /health."""

    name = "ssh"

    def command(self, host: SshHost, tag: str) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env(host).items())
        return " && ".join(
            [
                f"cd {shlex.quote(self.workdir(host))}",
                "git fetch origin --tags --force",
                f"git -c advice.detachedHead=false checkout --force --detach refs/tags/{tag}",
                f"env {env} sh start.sh",
            ]
        )

    def one_host(self, host: SshHost, tag: str) -> str:
        code, out = ssh_run(host, self.command(host, tag), timeout=self.stage.timeout)
        if code != 0:
            said = "timed out" if code is None else f"exit {code}"
            return f"{host.name}: ssh {said}: {tail(out, 5)}"
        if not wait_for_version(host.address, self.port, version_of(tag)):
            return f"{host.name}: /health never showed {version_of(tag)}"
        return ""

    def deploy(self, operation: str, tag: str) -> str:
        hosts = self.stage.hosts
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            errors = list(pool.map(lambda h: self.one_host(h, tag), hosts))
        return "; ".join(e for e in errors if e)

    def prepare(self) -> None:
        def clone(host: SshHost) -> str:
            command = shlex.join(
                ["git", "clone", "-q", "--no-checkout", self.stage.repo_url, self.workdir(host)]
            )
            code, out = ssh_run(host, command, timeout=self.stage.timeout)
            return "" if code == 0 else f"{host.name}: {tail(out, 5)}"

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.stage.hosts)) as pool:
            errors = [e for e in pool.map(clone, self.stage.hosts) if e]
        error = "; ".join(errors) or self.deploy("first", FIRST_TAG)
        if error:
            raise SystemExit(f"raw ssh setup failed: {error}")


# --------------------------------------------------------------------------- the run


def ensure_ansible(venv: Path) -> Path:
    """``venv`` with ansible-core (benchmarks/requirements-ansible.txt), created if missing."""
    playbook = venv / "bin" / "ansible-playbook"
    if playbook.exists():
        return venv
    print(f"creating {venv} (pip install ansible-core)…", file=sys.stderr, flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(ANSIBLE_REQUIREMENTS)],
    ]
    for argv in steps:
        code, out = run_bounded(argv, timeout=600)
        if code != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{tail(out)}")
    return venv


def ansible_version(venv: Path) -> str:
    code, out = run_bounded([str(venv / "bin" / "ansible-playbook"), "--version"], timeout=60)
    first = out.splitlines()[0] if code == 0 and out else "unknown"
    return first.replace("ansible-playbook ", "ansible-core ").replace("[core ", "").rstrip("]")


def openssh_version() -> str:
    _, out = run_bounded(["ssh", "-V"], timeout=10)
    return out.strip().split(",")[0] or "unknown"


def machine() -> str:
    """A one-line description of this machine."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def log(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Results:
    samples: dict[tuple[int, str, str, str], list[Sample]] = field(default_factory=dict)
    login: dict[tuple[int, str], float] = field(default_factory=dict)
    startup: list[float] = field(default_factory=list)  # `relman --help`, once per mode
    load: list[float] = field(default_factory=list)  # 1-minute load average, start and end

    def add(self, count: int, mode: str, sample: Sample) -> None:
        key = (count, mode, sample.tool, sample.operation)
        self.samples.setdefault(key, []).append(sample)

    def median(self, count: int, mode: str, tool: str, operation: str) -> float | None:
        good = [s.wall for s in self.samples.get((count, mode, tool, operation), []) if s.ok]
        return statistics.median(good) if good else None

    def failed(self, count: int, mode: str, tool: str, operation: str) -> int:
        return sum(not s.ok for s in self.samples.get((count, mode, tool, operation), []))

    def sessions(self, count: int, mode: str, tool: str, operation: str) -> int | None:
        used = [s.sessions for s in self.samples.get((count, mode, tool, operation), []) if s.ok]
        return int(statistics.median(used)) if used else None

    def engine(self, count: int, mode: str, operation: str) -> float | None:
        samples = self.samples.get((count, mode, "relman", operation), [])
        seconds = [s.engine for s in samples if s.ok and s.engine is not None]
        return statistics.median(seconds) if seconds else None


def run_count(
    lab: SshLab,
    repo_url: str,
    count: int,
    args: argparse.Namespace,
    results: Results,
    work: Path,
    started: float,
) -> None:
    """Start ``count`` hosts, prepare every tool, run the rounds in every shell mode."""
    log(f"{count} hosts: starting sshd", started)
    hosts = lab.start_hosts(count)
    homes = [work / "homes" / host.name for host in hosts]
    stage = Stage(hosts, repo_url, work, args.timeout)
    tools: list[Tool] = []
    try:
        for host, home in zip(hosts, homes, strict=True):
            give_home(host, home)
        makers: dict[str, Callable[[], Tool]] = {
            "relman": lambda: RelmanTool(stage, args.relman),
            "ansible": lambda: AnsibleTool(stage, args.ansible_venv, args.ansible_strategy),
            "ssh": lambda: SshTool(stage),
        }
        for name in args.tools:
            log(f"{count} hosts: first deploy with {LABELS[name]}", started)
            tool = makers[name]()
            tools.append(tool)
            tool.prepare()
        for mode in args.modes:
            set_slow_shell(homes, SHELL_DELAY if mode == "on" else 0.0)
            results.login[(count, mode)] = login_cost(hosts[0])
            for tool in tools:
                if isinstance(tool, RelmanTool):
                    results.startup.append(tool.startup())
            for round_number in range(args.rounds):
                shift = round_number % len(tools)
                for tool in tools[shift:] + tools[:shift]:
                    for operation, tag in OPERATIONS:
                        sample = tool.measure(operation, tag)
                        results.add(count, mode, sample)
                        state = "ok" if sample.ok else "FAILED"
                        log(
                            f"{count} hosts, slow shell {mode}, round {round_number + 1}: "
                            f"{LABELS[tool.name]} {operation} {tag} {sample.wall:.2f} s "
                            f"({sample.sessions} ssh sessions/host) {state}",
                            started,
                        )
                        if not sample.ok:
                            print(sample.error, file=sys.stderr, flush=True)
    finally:
        for tool in tools:
            tool.close()
        stopped = stage.reaper.reap()
        for host in hosts:
            lab.stop_host(host)
        log(f"{count} hosts: stopped {len(hosts)} sshd and {len(stopped)} services", started)


def figure(value: float | None, failed: int) -> str:
    if value is None:
        return "failed" if failed else "—"
    return f"{value:.2f}" + (f" ({failed} failed)" if failed else "")


def ratio(top: float | None, bottom: float | None) -> str:
    return f"{top / bottom:.1f}×" if top is not None and bottom else "—"


def report(results: Results, args: argparse.Namespace) -> str:
    out = [
        "| hosts | slow shell | deploy | relman (s) | Ansible (s) | raw ssh (s) "
        "| Ansible / relman | relman / raw ssh |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for count in args.counts:
        for mode in args.modes:
            for operation, _ in OPERATIONS:
                key = (count, mode)
                value = {t: results.median(*key, t, operation) for t in TOOLS}
                cells = [figure(value[t], results.failed(*key, t, operation)) for t in TOOLS]
                out.append(
                    f"| {count} | {mode} | {operation} | {' | '.join(cells)} | "
                    f"{ratio(value['ansible'], value['relman'])} | "
                    f"{ratio(value['relman'], value['ssh'])} |"
                )
    out += [
        "",
        "ssh sessions (remote commands) per host and deploy, most on any host:",
        "",
        "| hosts | slow shell | deploy | relman | Ansible | raw ssh | `ssh host true` (s) |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for count in args.counts:
        for mode in args.modes:
            for operation, _ in OPERATIONS:
                used = [results.sessions(count, mode, t, operation) for t in TOOLS]
                cells = " | ".join("—" if u is None else str(u) for u in used)
                login = results.login.get((count, mode))
                shown = "—" if login is None else f"{login:.2f}"
                out.append(f"| {count} | {mode} | {operation} | {cells} | {shown} |")
    if "relman" in args.tools:
        out += [
            "",
            "Where relman's time goes (medians, s): its deploy engine (`duration_seconds` of "
            "the evidence summary); the rest is the CLI's start-up, the database, the locks "
            "and printing.",
            "",
            "| hosts | slow shell | deploy | relman wall | of which engine | the rest |",
            "|---:|---|---|---:|---:|---:|",
        ]
        for count in args.counts:
            for mode in args.modes:
                for operation, _ in OPERATIONS:
                    wall = results.median(count, mode, "relman", operation)
                    engine = results.engine(count, mode, operation)
                    rest = None if wall is None or engine is None else wall - engine
                    cells = ["—" if v is None else f"{v:.2f}" for v in (wall, engine, rest)]
                    out.append(f"| {count} | {mode} | {operation} | {' | '.join(cells)} |")
        if results.startup:
            boot = ", ".join(f"{value:.2f}" for value in results.startup)
            out += ["", f"relman's CLI start-up alone (`relman --help`, s): {boot}."]
    out += ["", "Goals (relman's batching engine):", ""]
    for mode in args.modes:
        out += [f"- slow shell {mode}:"]
        for count, operation, what, check in goals():
            if count not in args.counts:
                continue
            value = {t: results.median(count, mode, t, operation) for t in TOOLS}
            used = results.sessions(count, mode, "relman", operation)
            verdict, shown = check(value, used)
            out.append(f"  - {count} hosts, {operation}: {what}: {shown} — {verdict}")
    return "\n".join(out)


def goals() -> list[tuple[int, str, str, Callable[..., tuple[str, str]]]]:
    def faster(times: float) -> Callable[..., tuple[str, str]]:
        def check(value: dict[str, float | None], used: int | None) -> tuple[str, str]:
            relman, ansible = value["relman"], value["ansible"]
            if relman is None or ansible is None:
                return "not measured", "—"
            got = ansible / relman
            return ("met" if got >= times else "not met"), f"Ansible / relman = {got:.1f}×"

        return check

    def near_ssh(value: dict[str, float | None], used: int | None) -> tuple[str, str]:
        relman, raw = value["relman"], value["ssh"]
        if relman is None or raw is None:
            return "not measured", "—"
        got = relman / raw
        return ("met" if got <= 1.5 else "not met"), f"relman / raw ssh = {got:.1f}×"

    def executions(value: dict[str, float | None], used: int | None) -> tuple[str, str]:
        if used is None:
            return "not measured", "—"
        return ("met" if used <= 4 else "not met"), f"{used} per host"

    return [
        (4, "upgrade", "≥ 3× faster than Ansible", faster(3.0)),
        (4, "upgrade", "≤ 1.5× raw ssh", near_ssh),
        (16, "upgrade", "≥ 5× faster than Ansible", faster(5.0)),
        (4, "rollback", "≤ 1.5× raw ssh", near_ssh),
        (4, "upgrade", "≤ 4 remote executions per host", executions),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="4,16", help="host counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each: upgrade+rollback)")
    parser.add_argument("--slow-shell", choices=("both", "on", "off"), default="both")
    parser.add_argument("--tools", default=",".join(TOOLS), help="any of relman,ansible,ssh")
    parser.add_argument("--ansible-strategy", choices=("linear", "free"), default="linear")
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ANSIBLE_VENV)
    parser.add_argument(
        "--relman", type=Path, default=ROOT / ".venv" / "bin" / "relman", help="relman CLI"
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per deploy")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args()
    words = [w.strip() for w in args.hosts.split(",") if w.strip()]
    if not words or not all(w.isdigit() and 0 < int(w) <= 200 for w in words):
        parser.error(f"--hosts: expected host counts (1-200) like 4,16, got {args.hosts!r}")
    args.counts = [int(w) for w in words]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if not tools or any(t not in TOOLS for t in tools) or len(set(tools)) != len(tools):
        parser.error(f"--tools: expected some of {','.join(TOOLS)}, got {args.tools!r}")
    args.tools = [t for t in TOOLS if t in tools]
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if args.timeout <= 0:
        parser.error("--timeout: must be positive")
    args.modes = ["off", "on"] if args.slow_shell == "both" else [args.slow_shell]
    if "relman" in args.tools and not args.relman.exists():
        parser.error(f"--relman: {args.relman} not found (make install)")
    return args


def main() -> None:
    args = parse_args()
    reason = sshd_unavailable_reason()
    if reason:
        raise SystemExit(f"needs OpenSSH sshd: {reason}")
    started = time.monotonic()
    tooling = [openssh_version()]
    if "ansible" in args.tools:
        args.ansible_venv = ensure_ansible(args.ansible_venv.resolve())
        tooling.append(f"{ansible_version(args.ansible_venv)} (strategy {args.ansible_strategy})")
    results = Results(load=[os.getloadavg()[0]])
    with tempfile.TemporaryDirectory(prefix="relman-side-") as scratch:
        work = Path(scratch)
        repo = build_sample_repo(work / "repo")
        with SshLab(work / "lab") as lab:
            for count in args.counts:
                stage_dir = work / f"n{count}"
                stage_dir.mkdir()
                run_count(lab, repo.url, count, args, results, stage_dir, started)
    log("done", started)
    results.load.append(os.getloadavg()[0])
    print(f"Machine: {machine()}; {', '.join(tooling)}")
    load = " → ".join(f"{value:.2f}" for value in results.load)
    print(f"1-minute load average at start → end: {load}; {time.monotonic() - started:.0f} s.")
    print(f"Median of {args.rounds} per cell, seconds from start to every host healthy.\n")
    print(report(results, args))
    if args.json:
        every = [
            {"hosts": count, "slow_shell": mode, **asdict(sample)}
            for (count, mode, _, _), samples in results.samples.items()
            for sample in samples
        ]
        args.json.write_text(json.dumps(every, indent=2) + "\n")


if __name__ == "__main__":
    main()
