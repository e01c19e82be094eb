"""The real Docker engine and the compose sample service, for the compose strategy tests.

A Docker engine runs on this machine kind once ``.ci/docker.sh`` started it (../shared/
TESTING.md). No public registry is reachable, so the sample's base image is made here:
``FROM scratch`` plus Debian's static busybox (:func:`busybox_base_image`). The sample's git
repository (:func:`build_compose_repo`) has one commit and annotated tag per release of
``examples/hello-compose``: v1.0.0 and v1.1.0 healthy, v1.2.0 broken (its container exits).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.git_repo import git, init_bare
from tests.support.ssh_fixtures import running_in_ci

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "hello-compose"
BUSYBOX = Path("/usr/bin/busybox")
BASE_IMAGE = "relman-test/busybox:1"
RELEASES = {"v1.0.0": False, "v1.1.0": False, "v1.2.0": True}  # tag → broken
TIMEOUT = 300.0  # seconds for one docker command
_IDENTITY = ("-c", "user.name=relman test", "-c", "user.email=test@relman.invalid")


def docker(
    *args: str, timeout: float = TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS…`` (argv, no shell), output captured, ``timeout`` seconds; with
    ``check`` a failure is an assertion quoting docker's last 40 lines."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
        raise AssertionError(f"docker {' '.join(args[:2])} failed ({done.returncode}):\n{tail}")
    return done


def docker_unavailable_reason(*, sample: bool = True) -> str | None:
    """Why the Docker tests cannot run here, or ``None`` when an engine and Compose v2
    answer — and, with ``sample``, the static busybox and docker-registry the compose
    sample's tests need are installed."""
    if shutil.which("docker") is None:
        return "no docker command (run .ci/docker.sh)"
    try:
        if docker("version", "--format", "{{.Server.Version}}", timeout=30, check=False).returncode:
            return "no Docker engine answers (run .ci/docker.sh)"
        if docker("compose", "version", timeout=30, check=False).returncode:
            return "no Docker Compose v2 plugin (run .ci/docker.sh)"
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer within 30 s"
    if not sample:
        return None
    if not BUSYBOX.is_file():
        return "no static busybox at /usr/bin/busybox (apt-get install busybox-static)"
    if shutil.which("docker-registry") is None:
        return "no docker-registry (apt-get install docker-registry)"
    return None


def require_docker(*, sample: bool = True) -> None:
    """Return if Docker can run; else skip (fail under CI=true, which must run them)."""
    reason = docker_unavailable_reason(sample=sample)
    if reason is None:
        return
    if running_in_ci():
        pytest.fail(f"Docker tests are required under CI=true, but: {reason}", pytrace=False)
    pytest.skip(f"Docker tests need a real engine: {reason}")


def busybox_base_image() -> str:
    """Make (once) the sample's base image from Debian's static busybox; returns its name."""
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    with tempfile.TemporaryDirectory() as context:
        shutil.copy(BUSYBOX, Path(context) / "busybox")
        (Path(context) / "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\n"
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        )
        docker("build", "-q", "-t", BASE_IMAGE, context)
    return BASE_IMAGE


def build_compose_repo(dest: Path) -> Path:
    """A bare repository ``dest/hello-compose.git`` with the sample's releases; returns it."""
    work = dest / "hello-compose-work"
    shutil.copytree(SAMPLE, work)
    git(work, "init", "-q", "-b", "main")
    for tag, broken in RELEASES.items():
        version = tag[1:]
        (work / "www" / "VERSION").write_text(version + "\n")
        (work / "www" / "health").write_text(
            '{"status": "ok", "service": "hello-compose", "version": "' + version + '"}\n'
        )
        marker = work / "www" / "BROKEN"
        if broken:
            marker.write_text("broken on purpose\n")
        elif marker.exists():
            marker.unlink()
        git(work, "add", "-A")
        git(work, *_IDENTITY, "commit", "-q", "-m", f"release {tag}")
        git(work, *_IDENTITY, "tag", "-a", tag, "-m", f"hello-compose {tag}")
    bare = init_bare(dest / "hello-compose.git")
    git(work, "push", "-q", "--tags", str(bare), "main")
    return bare


class Registry:
    """A real image registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1 and
    a free port, storing into ``root``; Docker pushes to a loopback registry without TLS."""

    def __init__(self, root: Path) -> None:
        from tests.support.sshd import free_port

        self.port = free_port("127.0.0.1")
        self.address = f"127.0.0.1:{self.port}"
        config = root / "registry.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        self._log = (root / "registry.log").open("w")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None:
                    break
            time.sleep(0.05)  # polling the registry's start, bounded by the deadline
        self.stop()
        raise RuntimeError(f"docker-registry did not start on {self.address}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def image_tags(repository: str) -> set[str]:
    """The tags of ``repository``'s images on this engine."""
    out = docker("image", "ls", "--format", "{{.Tag}}", repository).stdout
    return {line for line in out.split() if line and line != "<none>"}


def remove_images(repository: str) -> None:
    """Remove every image of ``repository`` (test clean-up)."""
    for tag in image_tags(repository):
        docker("image", "rm", "-f", f"{repository}:{tag}", check=False)
