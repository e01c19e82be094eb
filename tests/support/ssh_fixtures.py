"""pytest fixtures for tests against real parts: sshd hosts, the sample repo, hello-service.

Load as a plugin (``pytest_plugins = ["tests.support.ssh_fixtures"]`` in the root conftest).

SSH fixtures skip with the reason when sshd cannot run here, except under ``CI=true``, where
they fail: CI installs openssh-server and must run them. Mark such tests ``@pytest.mark.ssh``.

=====================  ========  =====================================================
fixture                scope     gives
=====================  ========  =====================================================
``ssh_lab``            session   :class:`~tests.support.sshd.SshLab` (client key, known_hosts)
``ssh_hosts``          function  ``start(n=1) -> list[SshHost]``; stopped after the test
``module_ssh_hosts``   module    the same, stopped after the module (faster, shared state)
``ssh_host``           function  one fresh :class:`~tests.support.sshd.SshHost`
``ssh_password_host``  function  a host accepting only ``host.user``/``host.password``
``sample_repo``        session   :class:`~relman.demo.sample_repo.SampleRepo` (read-only!)
``service_reaper``     function  :class:`~tests.support.hello.ServiceReaper`; stops leftovers
``hello_service``      function  ``start(...) -> HelloProcess``, healthy; stopped after the test
=====================  ========  =====================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from relman.demo.sample_repo import SampleRepo, build_sample_repo
from tests.support.hello import (
    HelloProcess,
    ServiceReaper,
    copy_hello_service,
    start_hello,
    wait_for_health,
)
from tests.support.sshd import (
    SshHost,
    SshLab,
    password_hosts_unavailable_reason,
    sshd_unavailable_reason,
)

HostsFactory = Callable[..., list[SshHost]]
HelloFactory = Callable[..., HelloProcess]


def running_in_ci(env: Mapping[str, str] | None = None) -> bool:
    """True when ``CI`` is ``true``/``1``/``yes`` (GitHub Actions sets ``CI=true``)."""
    value = (env if env is not None else os.environ).get("CI", "")
    return value.strip().lower() in ("true", "1", "yes")


def require_sshd(env: Mapping[str, str] | None = None) -> None:
    """Return if sshd hosts can run; else ``pytest.skip`` (or ``pytest.fail`` under CI=true)."""
    reason = sshd_unavailable_reason()
    if reason is None:
        return
    if running_in_ci(env):
        pytest.fail(f"SSH tests are required under CI=true, but: {reason}", pytrace=False)
    pytest.skip(f"SSH tests need a real sshd: {reason}")


@pytest.fixture(scope="session")
def ssh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """The session's :class:`SshLab`: client key pair, authorized_keys, known_hosts."""
    require_sshd()
    with SshLab(tmp_path_factory.mktemp("ssh-lab")) as lab:
        yield lab


def _hosts_factory(lab: SshLab) -> tuple[HostsFactory, Callable[[], None]]:
    started: list[SshHost] = []

    def start(n: int = 1) -> list[SshHost]:
        hosts = lab.start_hosts(n)
        started.extend(hosts)
        return hosts

    def stop() -> None:
        for host in reversed(started):
            lab.stop_host(host)

    return start, stop


@pytest.fixture
def ssh_hosts(ssh_lab: SshLab) -> Iterator[HostsFactory]:
    """``start(n=1) -> list[SshHost]``: fresh sshd hosts, each on its own 127.0.0.N and port.

    Every host accepts ``host.client_key`` for ``host.user`` and is pinned in
    ``host.known_hosts``. Hosts stop at the end of the test; services the test started on
    them in the background do not (use ``service_reaper``).
    """
    start, stop = _hosts_factory(ssh_lab)
    yield start
    stop()


@pytest.fixture(scope="module")
def module_ssh_hosts(ssh_lab: SshLab) -> Iterator[HostsFactory]:
    """Like ``ssh_hosts``, but the hosts live until the end of the test module."""
    start, stop = _hosts_factory(ssh_lab)
    yield start
    stop()


@pytest.fixture
def ssh_host(ssh_hosts: HostsFactory) -> SshHost:
    """One fresh key-authentication host (see ``ssh_hosts``)."""
    return ssh_hosts(1)[0]


@pytest.fixture
def ssh_password_host(ssh_lab: SshLab) -> Iterator[SshHost]:
    """A host that accepts only password authentication for a throwaway local user.

    ``host.user``/``host.password`` log in; ``host.client_key`` is None; ``host.root`` is
    the user's home. Skipped (also under CI) when not root or the account tools are missing.
    The user, its processes and its root are removed at teardown.
    """
    reason = password_hosts_unavailable_reason()
    if reason:
        pytest.skip(reason)
    host = ssh_lab.start_password_host()
    yield host
    ssh_lab.stop_host(host)


@pytest.fixture(scope="session")
def sample_repo(tmp_path_factory: pytest.TempPathFactory) -> SampleRepo:
    """The sample hello-service repository (tags v1.0.0, v1.1.0, broken v1.2.0).

    Shared by the session: clone and fetch from it, never push to it (build your own with
    :func:`relman.demo.sample_repo.build_sample_repo` for that).
    """
    return build_sample_repo(tmp_path_factory.mktemp("sample-repo"))


@pytest.fixture
def service_reaper() -> Iterator[ServiceReaper]:
    """Tracks service directories (``.hello.pid``) and stops what still runs at teardown.

    Teardown fails if a tracked process cannot be stopped.
    """
    reaper = ServiceReaper()
    yield reaper
    reaper.reap()
    leftover = reaper.running()
    assert not leftover, f"services still running after teardown: {leftover}"


@pytest.fixture
def hello_service(tmp_path: Path) -> Iterator[HelloFactory]:
    """``start(*, host="127.0.0.1", port=None, env=None, workdir=None, wait=True)``.

    Starts hello-service as a child process from a fresh copy of its sources
    (``workdir`` defaults to a new directory under ``tmp_path``) on a free port and, with
    ``wait``, polls ``/health`` until it answers 200 (15 s deadline). Returns the
    :class:`~tests.support.hello.HelloProcess`. Every instance is stopped at teardown.
    """
    started: list[HelloProcess] = []

    def start(
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        wait: bool = True,
    ) -> HelloProcess:
        directory = workdir or copy_hello_service(tmp_path / f"hello-{len(started) + 1}")
        process = start_hello(directory, host=host, port=port, env=env)
        started.append(process)
        if wait:
            wait_for_health(process.url("/health"), pid=process.process.pid)
        return process

    yield start
    for process in started:
        process.stop()
