"""relman's own image (Dockerfile) and compose.yaml on the real Docker engine (issue 11).

The image is built on a Debian bookworm with Python made here (no public image registry is
reachable: ../shared/TESTING.md), run on the host network against CI's PostgreSQL with a
fresh database, waited for until its own HEALTHCHECK says ``healthy``, and a release is
played through its Release API. ``docker compose config`` validates compose.yaml.

Skipped with the reason when no Docker engine answers here; under ``CI=true`` they fail,
as the sshd tests do (.ci/docker.sh starts the engine).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import PG_DEFAULT, PostgresServer, skip_or_fail
from tests.support.docker import docker, require_docker

ROOT = Path(__file__).resolve().parents[2]
#: Kept between runs (debootstrap takes a minute or more); relman's image is not.
BASE_IMAGE = "relman-ci/debian-python:bookworm"
#: Label of the base image: which CA bundle it trusts (see :func:`pip_ca_bundle`).
TRUST_LABEL = "relman.ci.ca-bundle-sha256"
PREFIX = "/api/tg-bot"
SECRET = "image-test-interserver-secret-4kQ"
OPERATOR_SECRET = "image-test-operator-secret-0123456789abcdef"
QA = "tg:4242"


Run = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module", autouse=True)
def docker_engine() -> None:
    # In a fixture, not at import: a failing import would stop the whole CI session.
    require_docker(sample=False)


# --- the machine's apt mirror and pip settings, handed to the builds ---------------------


def apt_mirror() -> str:
    """The Debian mirror apt uses for bookworm ``main`` (deb822 .sources or sources.list)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            fields: dict[str, str] = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if (
                "bookworm" in fields.get("Suites", "").split()
                and "main" in fields.get("Components", "").split()
            ):
                return fields["URIs"].split()[0]
    sources = Path("/etc/apt/sources.list")
    if sources.exists():
        for line in sources.read_text(encoding="utf-8").splitlines():
            parts = line.split("#")[0].split()
            if parts[:1] == ["deb"] and "bookworm" in parts and "main" in parts:
                return next(p for p in parts[1:] if "://" in p)
    return "http://deb.debian.org/debian"


def pip_settings() -> dict[str, str]:
    """pip's effective options (``pip config list``: files, then the environment, later
    entries winning), e.g. ``{"cert": "/etc/ssl/certs/ca-certificates.crt"}``."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    options: dict[str, str] = {}
    for line in listed.splitlines():
        match = re.fullmatch(r"[^.]*\.([\w-]+)='(.*)'", line.strip())
        if match:
            options[match[1]] = match[2]
    return options


def pip_ca_bundle() -> Path | None:
    """The CA bundle pip is told to trust here (a TLS-intercepting proxy's CA is in it)."""
    cert = pip_settings().get("cert")
    return Path(cert) if cert and Path(cert).is_file() else None


def pip_build_args() -> list[str]:
    """pip's index settings as the Dockerfile's build args; only http(s) indexes, which
    the build can reach (file:// ones are this machine's disk)."""
    options = pip_settings()
    args: list[str] = []
    for option, arg in (
        ("index-url", "PIP_INDEX_URL"),
        ("extra-index-url", "PIP_EXTRA_INDEX_URL"),
        ("trusted-host", "PIP_TRUSTED_HOST"),
    ):
        values = options.get(option, "").split()
        if option != "trusted-host":
            values = [v for v in values if v.startswith(("http://", "https://"))]
        if values:
            args += ["--build-arg", f"{arg}={' '.join(values)}"]
    return args


# --- images -------------------------------------------------------------------------------


def ensure_base_image(work: Path) -> str:
    """Debian bookworm with python3 and python3-venv, made once with debootstrap from the
    mirror apt uses and kept by name. It trusts the CA bundle pip trusts here (the
    Dockerfile's pip uses the base's CA store), so it is made again when that bundle
    changes."""
    bundle = pip_ca_bundle()
    trust = hashlib.sha256(bundle.read_bytes()).hexdigest() if bundle else "debian"
    have = docker(
        "image", "inspect", "-f", f'{{{{.Id}}}} {{{{index .Config.Labels "{TRUST_LABEL}"}}}}',
        BASE_IMAGE, check=False,
    ).stdout.split()  # fmt: skip
    if have[1:] == [trust]:
        return BASE_IMAGE
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        skip_or_fail(f"making {BASE_IMAGE} needs root and debootstrap (run .ci/docker.sh)")
    rootfs = work / "rootfs"
    made = subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm",
         str(rootfs), apt_mirror()],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert made.returncode == 0, f"debootstrap failed:\n{made.stdout[-3000:]}{made.stderr[-3000:]}"
    # What the slim Debian images leave out too: package caches and lists, docs, man pages,
    # translations (about half of the 275 MB).
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                 "usr/share/man", "usr/share/locale"):  # fmt: skip
        for entry in (rootfs / junk).glob("*"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.name != "lock":
                entry.unlink()
    if bundle is not None:
        shutil.copyfile(bundle, rootfs / "etc/ssl/certs/ca-certificates.crt")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["docker", "import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]',
         "--change", f"LABEL {TRUST_LABEL}={trust}", "-", BASE_IMAGE],
        stdin=tar.stdout, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert tar.stdout is not None
    tar.stdout.close()
    assert tar.wait(timeout=60) == 0 and imported.returncode == 0, imported.stderr
    shutil.rmtree(rootfs)
    if have:  # the stale base, now untagged (refused, and left, if a container uses it)
        docker("image", "rm", have[0], check=False)
    return BASE_IMAGE


def snapshot_context(dest: Path) -> Path:
    """A copy of the build context: what .dockerignore lets in (``*``, then ``!name``
    lines). Both builds must see the same files while others edit the working tree, or the
    second would make a builder stage of its own that nobody removes."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", ".dockerignore is an allowlist: `*`, then `!name` lines"
    dest.mkdir()
    shutil.copy(ROOT / ".dockerignore", dest)
    for name in (p[1:].rstrip("/") for p in patterns if p.startswith("!")):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, dest / name)
    return dest


def build(context: Path, *args: str) -> str:
    """``docker build`` of ``context`` with ``args``; returns the image id."""
    iidfile = context.parent / f"iid-{uuid.uuid4().hex[:8]}"
    # --network host: the engine runs with --bridge=none; --force-rm: no container is left
    # behind by a failed step.
    docker("build", "--network", "host", "--force-rm", "--iidfile", str(iidfile), *args,
           str(context), timeout=1500)  # fmt: skip
    return iidfile.read_text().strip()


@dataclass
class BuiltImage:
    id: str
    size: int
    base_seconds: float
    build_seconds: float


@pytest.fixture(scope="module")
def relman_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltImage]:
    """relman's image built from the Dockerfile on :data:`BASE_IMAGE`; removed afterwards,
    the builder stage's image too (by id). The base image stays cached."""
    work = tmp_path_factory.mktemp("image")
    started = time.monotonic()
    base = ensure_base_image(work)
    based = time.monotonic()
    context = snapshot_context(work / "context")
    args = ["--build-arg", f"BASE_IMAGE={base}", *pip_build_args()]
    built: list[str] = []
    try:
        # The builder stage on its own first, to know its id: the legacy builder keeps each
        # stage's image, and only the final one has an id we are told.
        built.append(build(context, "--target", "builder", *args))
        built.append(build(context, *args))  # the builder stage comes from the cache now
        size = int(docker("image", "inspect", "-f", "{{.Size}}", built[-1]).stdout)
        yield BuiltImage(built[-1], size, based - started, time.monotonic() - based)
    finally:
        for image in reversed(built):
            docker("image", "rm", image, check=False)


# --- the container ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A fresh, empty database on CI's PostgreSQL: the container migrates it itself."""
    server = PostgresServer(os.environ.get("RELMAN_TEST_DATABASE_URL") or PG_DEFAULT)
    if not await server.reachable():
        skip_or_fail(f"PostgreSQL at {server.admin_url} is not reachable")
    name = f"relman_img_{uuid.uuid4().hex[:10]}"
    url = await server.create(name)
    yield url
    await server.drop(name)


def state(container: str) -> tuple[str, str]:
    """The container's status and health, e.g. ``("running", "starting")``."""
    out = docker(
        "inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
        container,
    ).stdout.split()  # fmt: skip
    return out[0], (out[1] if len(out) > 1 else "")


def wait_healthy(container: str, deadline_s: float) -> float:
    """Seconds until the container's HEALTHCHECK reports ``healthy``."""
    started = time.monotonic()
    status, health = "unknown", ""
    while time.monotonic() - started < deadline_s:
        status, health = state(container)
        if health == "healthy":
            return time.monotonic() - started
        if status != "running":
            break
        time.sleep(0.5)  # polling interval, bounded by the deadline
    logs = docker("logs", "--tail", "40", container, check=False)
    probes = docker("inspect", "-f", "{{json .State.Health}}", container, check=False).stdout
    raise AssertionError(
        f"container {status}/{health or 'no health'} after {deadline_s:.0f}s\n"
        f"logs:\n{logs.stdout}{logs.stderr}\nhealth: {probes[-2000:]}"
    )


@dataclass
class Running:
    id: str
    url: str
    healthy_after: float


@pytest.fixture
def relman_container(
    relman_image: BuiltImage, database_url: str, tmp_path: Path
) -> Iterator[Running]:
    """The image running on the host network (the engine has no bridge) on a free loopback
    port, once its HEALTHCHECK says healthy."""
    port = free_port()
    env = tmp_path / "relman.env"
    # As compose.yaml does it: secrets from an env file; the seed's port variable, which
    # the image must not shadow with RELMAN_PORT.
    env.write_text(
        f"DATABASE_URL={database_url}\n"
        f"LOOM_INTERSERVER_SECRET_KEY={SECRET}\n"
        f"RELMAN_OPERATOR_SECRET={OPERATOR_SECRET}\n"
        f"LOOM_RELEASE_TG_BOT_PORT={port}\n"
        # Loopback only: on the host network 0.0.0.0 would be every interface of the machine.
        "RELMAN_HOST=127.0.0.1\n",
        encoding="utf-8",
    )
    config = tmp_path / "relman.toml"
    config.write_text(f'[policy]\nqa = ["{QA}"]\n', encoding="utf-8")
    container = docker(
        "run", "-d", "--network", "host", "--env-file", str(env),
        "-v", f"{config}:/etc/relman/relman.toml:ro",
        # The image's own check, probed every second instead of every 30 s: timing only, as
        # compose.yaml's healthcheck does.
        "--health-interval", "1s", "--health-start-period", "120s",
        relman_image.id,
    ).stdout.strip()  # fmt: skip
    try:
        healthy_after = wait_healthy(container, deadline_s=180)
        yield Running(container, f"http://127.0.0.1:{port}", healthy_after)
    finally:
        docker("rm", "-f", "-v", container, check=False)


# --- tests --------------------------------------------------------------------------------


def ci(client: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """A Release API call with CI's inter-server secret; returns the JSON body of a 2xx."""
    response = client.request(
        method, PREFIX + path, headers={"Authorization": f"Bearer {SECRET}"}, **kwargs
    )
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.timeout(1800)
def test_image_serves_a_release_against_postgres(
    relman_image: BuiltImage,
    relman_container: Running,
    capsys: pytest.CaptureFixture[str],
) -> None:
    container, url = relman_container.id, relman_container.url
    with capsys.disabled():  # in CI's log, whatever the capture mode
        print(
            f"\nrelman image: {relman_image.size / 1e6:.0f} MB ({relman_image.size} bytes) "
            f"on {BASE_IMAGE}; base ready in {relman_image.base_seconds:.0f} s, image built "
            f"in {relman_image.build_seconds:.0f} s, healthy "
            f"{relman_container.healthy_after:.0f} s after start"
        )
    inspected = json.loads(docker("image", "inspect", relman_image.id).stdout)[0]["Config"]
    assert inspected["User"] == "relman"
    assert inspected["Cmd"] == ["relman", "serve", "--migrate"]
    assert "curl" not in json.dumps(inspected["Healthcheck"])
    assert docker("exec", container, "id", "-u").stdout.strip() == "10001"
    writable = docker("exec", container, "test", "-w", "/var/log/deployments", check=False)
    assert writable.returncode == 0, "relman cannot write its deploy logs"

    with httpx.Client(base_url=url, timeout=10) as client:
        health = client.get(f"{PREFIX}/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok" and health.json()["database"] == "ok"

        # Seed 003's flow as CI and QA drive it: the tag event, CI's status reports, QA's
        # approval (relayed with the operator secret, allowed by relman.toml's policy).
        created = ci(client, "POST", "/release", json={
            "service_name": "loom-content", "release_tag": "v1.2.3",
            "initiated_by": "developer_name", "github_run_id": "9001",
            "github_action_link": "https://github.com/org/loom-content/actions/runs/9001",
            "github_ref": "refs/tags/v1.2.3",
        })  # fmt: skip
        rid = created["id"]
        assert created["status"] == "initiated"
        for status in ("building", "stage_deploy", "manual_testing"):
            moved = ci(client, "PATCH", "/release", json={"release_id": rid, "status": status})
            assert moved["status"] == status
        approved = client.post(
            f"{PREFIX}/release/{rid}/approve",
            json={"actor": QA},
            headers={"Authorization": f"Bearer {OPERATOR_SECRET}"},
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "manual_test_passed"
        for status in ("deploying", "deployed"):
            moved = ci(client, "PATCH", "/release", json={"release_id": rid, "status": status})
            assert moved["status"] == status

        detail = ci(client, "GET", f"/release/{rid}")
        assert detail["status"] == "deployed" and detail["completed_at"] is not None
        assert [e["to_status"] for e in detail["events"]] == [
            "initiated", "building", "stage_deploy", "manual_testing", "manual_test_passed",
            "deploying", "deployed",
        ]  # fmt: skip
        assert detail["events"][4]["actor"] == QA
        listed = ci(client, "GET", "/releases", params={"group": "successful"})
        assert rid in [r["id"] for r in listed["releases"]]
        assert client.get("/metrics").status_code == 200

    # relman is PID 1: SIGTERM must stop it cleanly (exit 0), not docker's SIGKILL (137).
    docker("stop", "-t", "30", container, timeout=60)
    assert docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout.strip() == "0"


def compose_config(project: Path) -> Run:
    return docker(
        "compose", "--project-directory", str(project), "-f", str(project / "compose.yaml"),
        "config", "--format", "json", timeout=60, check=False,
    )  # fmt: skip


def test_compose_file_validates(tmp_path: Path) -> None:
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    (tmp_path / ".env").write_text(
        f"LOOM_INTERSERVER_SECRET_KEY={SECRET}\nLOOM_RELEASE_TG_BOT_POSTGRES_PASSWORD=pw-Xy7\n",
        encoding="utf-8",
    )
    done = compose_config(tmp_path)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    relman, postgres = services["relman"], services["postgres"]

    assert [(p["target"], p["published"]) for p in relman["ports"]] == [(8000, "8000")]
    assert {"type": "volume", "target": "/var/log/deployments"}.items() <= next(
        v for v in relman["volumes"] if v["target"] == "/var/log/deployments"
    ).items()
    health = relman["healthcheck"]
    assert (health["interval"], health["timeout"], health["retries"]) == ("30s", "10s", 3)
    assert "test" not in health  # the image's check (no curl in the image)
    assert relman["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The secrets come from .env: in relman's environment, and PostgreSQL's password.
    assert relman["environment"]["LOOM_INTERSERVER_SECRET_KEY"] == SECRET
    assert relman["environment"]["LOOM_RELEASE_TG_BOT_POSTGRES_PASSWORD"] == "pw-Xy7"
    assert relman["environment"]["LOOM_RELEASE_TG_BOT_POSTGRES_CONTAINER_NAME"] == "postgres"
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "pw-Xy7"
    assert postgres["image"].startswith("postgres:")
    assert relman["build"]["context"] == str(tmp_path)

    # Without the database password compose refuses, naming the variable.
    (tmp_path / ".env").write_text(f"LOOM_INTERSERVER_SECRET_KEY={SECRET}\n", encoding="utf-8")
    refused = compose_config(tmp_path)
    assert refused.returncode != 0
    assert "LOOM_RELEASE_TG_BOT_POSTGRES_PASSWORD" in refused.stderr
