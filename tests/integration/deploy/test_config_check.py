"""``check_config`` (issue 15 item 8) against real OpenSSH hosts and the local transport: a
good host passes; a wrong host key, a workdir that cannot be, a host without git fail with
a line saying so, and nothing on the host is changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relman.config import Environment, HealthCheck, Host, RelmanConfig, Service
from relman.domain.errors import NotFound
from relman.services.config_check import Check, check_config
from tests.support.ssh_fixtures import HostsFactory
from tests.support.sshd import SshHost, SshLab
from tests.support.targets import ssh_host_config

pytestmark = pytest.mark.ssh

SERVICE = Service(
    repo="/srv/git/hello.git",
    workdir="{root}/hello",
    start_command=["sh", "start.sh"],
    health=HealthCheck(url="http://{address}:8004/health"),
)


def config(hosts: dict[str, Host], **environments: list[str]) -> RelmanConfig:
    return RelmanConfig(
        services={"hello": SERVICE},
        hosts=hosts,
        environments={name: Environment(hosts=names) for name, names in environments.items()},
    )


def by_name(checks: list[Check], host: str) -> dict[str, Check]:
    return {c.name: c for c in checks if c.host == host}


async def test_a_good_ssh_host_passes_every_check(ssh_host: SshHost) -> None:
    report = await check_config(
        config({"prod-1": ssh_host_config(ssh_host)}, production=["prod-1"])
    )
    assert report.ok, report.checks
    checks = by_name(report.checks, "prod-1")
    assert list(checks) == ["connect", "git", "workdir", "health url"]
    assert checks["connect"].detail == (
        f"ssh {ssh_host.user}@{ssh_host.address}:{ssh_host.port}, host key pinned by "
        f"{ssh_host.known_hosts}"
    )
    assert checks["git"].detail.startswith("git version ")
    assert checks["workdir"].detail == (
        f"{ssh_host.root}/hello is missing; {ssh_host.root} is writable: the first deploy "
        "clones there"
    )
    assert checks["health url"].detail == f"http://{ssh_host.address}:8004/health"
    assert not (ssh_host.root / "hello").exists()  # a check changes nothing


async def test_a_wrong_host_key_fails_before_any_command(
    ssh_lab: SshLab, ssh_hosts: HostsFactory, tmp_path: Path
) -> None:
    good, bad = ssh_hosts(2)
    wrong = ssh_lab.known_hosts_with_wrong_key(bad, tmp_path / "known_hosts")
    report = await check_config(
        config(
            {
                "stage-1": ssh_host_config(good),
                "prod-1": ssh_host_config(bad, known_hosts=wrong),
            },
            stage=["stage-1"],
            production=["prod-1"],
        )
    )
    assert not report.ok
    assert all(c.ok for c in report.checks if c.host == "stage-1")
    (failed,) = [c for c in report.checks if c.host == "prod-1"]  # nothing after connect
    assert (failed.name, failed.ok, failed.environment) == ("connect", False, "production")
    assert "prod-1" in failed.detail and "changed" in failed.detail, failed.detail


async def test_a_workdir_that_cannot_be_made_fails(ssh_host: SshHost) -> None:
    host = ssh_host_config(ssh_host, root=str(ssh_host.root / "no" / "such"))
    report = await check_config(config({"prod-1": host}, production=["prod-1"]))
    checks = by_name(report.checks, "prod-1")
    assert not report.ok
    assert checks["connect"].ok and checks["git"].ok
    assert not checks["workdir"].ok
    assert checks["workdir"].detail == (
        f"{ssh_host.root}/no/such/hello is missing and so is its parent "
        f"{ssh_host.root}/no/such (a typo in workdir or root?)"
    )
    (ssh_host.root / "file").write_text("not a folder")
    host = ssh_host_config(ssh_host, root=str(ssh_host.root))
    service = SERVICE.model_copy(update={"workdir": "{root}/file"})
    report = await check_config(
        config({"prod-1": host}, production=["prod-1"]).model_copy(
            update={"services": {"hello": service}}
        )
    )
    assert by_name(report.checks, "prod-1")["workdir"].detail == (
        f"{ssh_host.root}/file exists but is not a folder"
    )


async def test_a_local_host_without_git_fails_the_git_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real machine without git: the local transport's PATH holds sh and the tools the
    # workdir check uses, not git.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "dirname", "id", "true"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    (tmp_path / "box").mkdir()
    report = await check_config(
        config({"box": Host(transport="local", root=str(tmp_path / "box"))}, production=["box"])
    )
    checks = by_name(report.checks, "box")
    assert checks["connect"].ok and checks["workdir"].ok
    assert not checks["git"].ok
    assert checks["git"].detail == "git is not installed (not on the PATH of the deploy user)"


async def test_compose_services_get_docker_and_compose_checks(tmp_path: Path) -> None:
    shop = Service(
        repo="/srv/git/shop.git",
        workdir="{root}/shop",
        strategy="compose",
        compose_file="compose.yaml",
        compose_service="web",
        health=HealthCheck(url="http://{address}:8080/health"),
    )
    (tmp_path / "box").mkdir()
    cfg = config(
        {"box": Host(transport="local", root=str(tmp_path / "box"))}, production=["box"]
    ).model_copy(update={"services": {"hello": SERVICE, "shop": shop}})
    report = await check_config(cfg, service="shop")
    assert [(c.service, c.name) for c in report.checks] == [
        ("", "connect"),
        ("", "git"),
        ("shop", "workdir"),
        ("shop", "docker"),
        ("shop", "compose"),
        ("shop", "health url"),
    ]
    docker = by_name(report.checks, "box")["docker"]
    # Whether this machine has a Docker engine or not, the line says which.
    assert docker.detail.startswith("engine ") or "docker" in docker.detail.lower()


async def test_unknown_names_are_refused() -> None:
    with pytest.raises(NotFound, match="no service 'shop'"):
        await check_config(RelmanConfig(), service="shop")
    with pytest.raises(NotFound, match="no environment 'prod'"):
        await check_config(RelmanConfig(), environment="prod")
