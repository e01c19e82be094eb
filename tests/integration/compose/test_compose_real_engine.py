"""The compose strategy on a real Docker engine (issue "Containers for real" items 1, 3, 4),
through the deploy use case, over the local transport and over real sshd hosts.

hello-compose (``examples/hello-compose``): v1.0.0 → v1.1.0 → the broken v1.2.0, whose
container exits at start — the health check stops at once, ``docker compose ps`` and the
container's log reach the deploy log, and the automatic rollback starts v1.1.0's kept image
without a build. With ``keep_images = 1`` an older image is pruned after a healthy deploy, so
a manual rollback to it finds it absent and builds it, and says so.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from relman.bootstrap import Container
from relman.config import Environment, HealthCheck, Host, RelmanConfig, Service
from relman.services.deploys import DeployService
from relman.store.deployments import DeploymentStore
from tests.support.docker import (
    Registry,
    build_compose_repo,
    busybox_base_image,
    docker,
    image_tags,
    remove_images,
    require_docker,
)
from tests.support.ssh_fixtures import HostsFactory
from tests.support.sshd import free_port
from tests.support.targets import served_version, ssh_host_config


@pytest.fixture(scope="module")
def compose_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_docker()
    busybox_base_image()
    return build_compose_repo(tmp_path_factory.mktemp("compose-repo"))


class Compose:
    """One test's compose service: its own image repository and project names."""

    def __init__(self, repo: Path, hosts: dict[str, Host], **extra: object) -> None:
        self.suffix = secrets.token_hex(3)
        self.image_repo = f"relman-test/hello-compose-{self.suffix}"
        self.port = free_port("127.0.0.1")
        values: dict[str, object] = {
            "repo": str(repo),
            "workdir": "{root}/hello-compose",
            "strategy": "compose",
            "compose_file": "compose.yaml",
            "compose_service": "web",
            # every "host" here shares one engine: the host's name keeps projects apart
            "compose_project": "hello-{host}-" + self.suffix,
            "health": HealthCheck(
                url=f"http://{{address}}:{self.port}/health", attempts=40, interval=0.25
            ),
            "env": {
                "IMAGE_REPO": self.image_repo,
                "BASE_IMAGE": busybox_base_image(),
                "HELLO_HOST": "{address}",
                "HELLO_PORT": str(self.port),
            },
        }
        values.update(extra)
        self.service = Service.model_validate(values)
        self.hosts = hosts

    def urls(self) -> list[str]:
        return [f"http://{h.address}:{self.port}/health" for h in self.hosts.values()]

    def projects(self) -> list[str]:
        return [f"hello-{name}-{self.suffix}" for name in self.hosts]

    def clean(self) -> None:
        for project in self.projects():
            ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
            for cid in ids.stdout.split():
                docker("rm", "-f", cid, check=False)
        remove_images(self.image_repo)


def _deploys(container: Container, compose: Compose) -> DeployService:
    config = RelmanConfig(
        services={"hello": compose.service},
        hosts=compose.hosts,
        environments={"production": Environment(hosts=list(compose.hosts))},
    )
    return DeployService(container.settings, config, DeploymentStore(container.engine))


@pytest.fixture
def local_compose(compose_repo: Path, tmp_path: Path) -> Iterator[Compose]:
    hosts = {
        "box-1": Host(transport="local", address="127.0.0.2", root=str(tmp_path / "box-1")),
        "box-2": Host(transport="local", address="127.0.0.3", root=str(tmp_path / "box-2")),
    }
    compose = Compose(compose_repo, hosts, keep_images=1)
    yield compose
    compose.clean()


async def _versions(compose: Compose) -> list[object]:
    return [await served_version(url) for url in compose.urls()]


async def test_compose_deploy_upgrade_broken_tag_rollback_and_pruning(
    container: Container, local_compose: Compose
) -> None:
    compose = local_compose
    deploys = _deploys(container, compose)
    for tag in ("v1.0.0", "v1.1.0"):
        outcome = await deploys.deploy("hello", tag, "production", actor="cli:alice")
        assert outcome.ok, outcome.result.error
        assert await _versions(compose) == [tag[1:]] * 2
    # keep_images = 1: after v1.1.0 turned healthy, v1.0.0's image is gone
    assert image_tags(compose.image_repo) == {"v1.1.0"}
    # (both "hosts" share this engine: whichever pruned first removed it)
    evidence = outcome.result.evidence_dir
    assert evidence is not None
    pruned = "".join((evidence / h / "step_prune_images.log").read_text() for h in compose.hosts)
    assert f"removed {compose.image_repo}:v1.0.0" in pruned
    assert f"removed {compose.image_repo}:v1.1.0" not in pruned  # kept, and not said otherwise
    # -p with the normalized project name, on every compose command
    running = docker("ps", "--format", '{{.Label "com.docker.compose.project"}}').stdout
    assert set(compose.projects()) <= set(running.split())

    broken = await deploys.deploy("hello", "v1.2.0", "production", actor="cli:alice")
    assert not broken.ok
    log = broken.result.log_path.read_text(encoding="utf-8")  # type: ignore[union-attr]
    # the exited container stops the health check at once (40 attempts were allowed)
    assert "💥 Контейнер остановился (код выхода 1) — health check прерван" in log
    health = broken.result.hosts["box-1"].health
    assert health is not None and health.stopped and len(health.attempts) < 40
    # without any log configuration: compose ps and the container's own last lines
    assert "broken on purpose, exiting" in log
    assert compose.projects()[0] in log
    # the automatic rollback starts v1.1.0's kept image: no build
    assert broken.rollback is not None and broken.rollback.ok, broken.rollback
    back_log = broken.rollback.log_path.read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert f"♻️ Образ {compose.image_repo}:v1.1.0 есть на хосте — запускаем без сборки" in back_log
    assert "Начинаем сборку" not in back_log
    assert await _versions(compose) == ["1.1.0", "1.1.0"]
    # the failed release's image is pruned after the healthy rollback
    assert image_tags(compose.image_repo) == {"v1.1.0"}

    # a manual rollback to a pruned image builds it, and the log says why
    manual = await deploys.rollback("hello", "production", actor="cli:bob", to_tag="v1.0.0")
    assert manual.ok, manual.error
    manual_log = manual.log_path.read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert f"🔨 Образа {compose.image_repo}:v1.0.0 нет на хосте — собираем его" in manual_log
    assert await _versions(compose) == ["1.0.0", "1.0.0"]


@pytest.mark.ssh
async def test_compose_over_sshd_deploys_and_rolls_back_without_a_build(
    container: Container, compose_repo: Path, ssh_hosts: HostsFactory
) -> None:
    (host,) = ssh_hosts(1)
    compose = Compose(compose_repo, {host.name: ssh_host_config(host)})
    try:
        deploys = _deploys(container, compose)
        for tag in ("v1.0.0", "v1.1.0"):
            outcome = await deploys.deploy("hello", tag, "production", actor="cli:alice")
            assert outcome.ok, outcome.result.error
        assert await _versions(compose) == ["1.1.0"]
        back = await deploys.rollback("hello", "production", actor="cli:bob")
        assert back.ok and back.tag == "v1.0.0", back.error
        assert "запускаем без сборки" in back.log_path.read_text(encoding="utf-8")  # type: ignore[union-attr]
        assert await _versions(compose) == ["1.0.0"]
        assert image_tags(compose.image_repo) == {"v1.0.0", "v1.1.0"}
    finally:
        compose.clean()


def test_compose_file_validates() -> None:
    require_docker()
    sample = Path(__file__).resolve().parents[3] / "examples" / "hello-compose"
    checked = subprocess.run(
        ["docker", "compose", "-f", "compose.yaml", "config", "--quiet"],
        cwd=sample,
        env={"IMAGE_TAG": "v1.0.0", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    require_docker()
    running = Registry(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


def _container_id(project: str) -> str:
    out = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}")
    return out.stdout.strip()


async def test_registry_mode_builds_once_promotes_the_digest_and_refuses_another(
    container: Container, compose_repo: Path, registry: Registry, tmp_path: Path
) -> None:
    hosts = {
        name: Host(transport="local", address=address, root=str(tmp_path / name))
        for name, address in (("stage-1", "127.0.0.4"), ("prod-1", "127.0.0.5"))
    }
    compose = Compose(compose_repo, hosts, image_source="registry")
    compose.image_repo = f"{registry.address}/hello-compose-{compose.suffix}"
    compose.service = compose.service.model_copy(
        update={"env": {**compose.service.env, "IMAGE_REPO": compose.image_repo}}
    )
    config = RelmanConfig(
        services={"hello": compose.service},
        hosts=hosts,
        environments={
            "stage": Environment(hosts=["stage-1"]),
            "production": Environment(hosts=["prod-1"]),
        },
    )
    deploys = DeployService(container.settings, config, DeploymentStore(container.engine))
    stage_url, prod_url = compose.urls()
    try:
        # stage: the registry lacks the image, so it is built once there and pushed
        staged = await deploys.deploy("hello", "v1.0.0", "stage", actor="cli:alice")
        assert staged.ok, staged.result.error
        digest = staged.result.image_digest
        assert digest is not None and digest.startswith("sha256:")
        stage_log = staged.result.log_path.read_text(encoding="utf-8")  # type: ignore[union-attr]
        assert "собран на этом хосте и отправлен в реестр" in stage_log
        (stage_row,) = await deploys.history("hello", "stage")
        assert stage_row.image_digest == digest

        # production pulls exactly that image
        prod = await deploys.deploy(
            "hello", "v1.0.0", "production", actor="cli:qa", expected_digest=digest
        )
        assert prod.ok, prod.result.error
        assert prod.result.image_digest == digest
        prod_log = prod.result.log_path.read_text(encoding="utf-8")  # type: ignore[union-attr]
        assert "получен из реестра" in prod_log and "собран" not in prod_log
        assert [await served_version(u) for u in (stage_url, prod_url)] == ["1.0.0", "1.0.0"]
        running = _container_id(f"hello-prod-1-{compose.suffix}")

        # production never builds: a tag nobody pushed is refused
        missing = await deploys.deploy("hello", "v1.1.0", "production", actor="cli:qa")
        assert not missing.ok
        assert missing.result.hosts["prod-1"].error_code == "image_unavailable"
        assert compose.image_repo + ":v1.1.0" in (missing.result.error or "")

        # stage v1.1.0, then someone pushes another image under the same tag
        staged = await deploys.deploy("hello", "v1.1.0", "stage", actor="cli:alice")
        assert staged.ok, staged.result.error
        approved = staged.result.image_digest
        context = tmp_path / "other-image"
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM {busybox_base_image()}\nCOPY x /x\n")
        (context / "x").write_text("not what QA tested\n")
        docker("build", "-q", "-t", f"{compose.image_repo}:v1.1.0", str(context))
        docker("push", "-q", f"{compose.image_repo}:v1.1.0")
        refused = await deploys.deploy(
            "hello", "v1.1.0", "production", actor="cli:qa", expected_digest=approved
        )
        assert not refused.ok
        host = refused.result.hosts["prod-1"]
        assert host.error_code == "image_digest_moved"
        assert approved is not None and approved in (host.error or "")
        # the running container was never replaced, and still serves what QA approved before
        assert _container_id(f"hello-prod-1-{compose.suffix}") == running
        assert await served_version(prod_url) == "1.0.0"
    finally:
        compose.clean()


async def test_a_compose_service_missing_at_the_tag_is_named_and_nothing_restarts(
    container: Container, compose_repo: Path, tmp_path: Path
) -> None:
    hosts = {"box-9": Host(transport="local", address="127.0.0.6", root=str(tmp_path / "b9"))}
    compose = Compose(compose_repo, hosts, compose_service="api")
    try:
        outcome = await _deploys(container, compose).deploy(
            "hello", "v1.0.0", "production", actor="cli:alice"
        )
        assert not outcome.ok
        error = outcome.result.hosts["box-9"].error or ""
        assert "compose_check" in error
        assert "service api is not in compose.yaml at v1.0.0 (it has: web)" in error
        assert "restart" not in [s.name for s in outcome.result.hosts["box-9"].steps]
    finally:
        compose.clean()
