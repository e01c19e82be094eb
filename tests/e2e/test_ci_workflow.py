"""The workflows ``relman init github`` writes, played step by step as a fresh GitHub runner
plays them (:mod:`tests.support.workflow_player`), against a real ``relman serve``, real
sshd hosts on loopback and the GitHub double.

The service repository is the sample hello-service with ``relman.toml`` and the generated
workflows committed on every tag and on a work branch, so ``actions/checkout`` (a clone)
gives the runner exactly what GitHub's would. relman is installed by the workflow's own
"Install relman" step, from the wheel of this checkout (``--relman-spec "relman @
file://…whl#sha256=…"``) into the Python ``actions/setup-python`` gives, offline from a
local wheelhouse. That venv is made once per module: a fresh install takes ~25 s here, so
the first play installs for real and later plays run the same step against it (pip
answers "already installed"); the runner's workspace, HOME and temp are new every play.

Two configurations: ``executor = "github"`` (stage, production and alice's dev server on
sshd hosts, the key and known_hosts given to the workflows as secrets) and the default
``local`` executor (relman's worker deploys stage; the tag workflow only records).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve import RELMAN, clean_env, free_port, wait_healthy

from relman.demo.sample_repo import SampleRepo
from tests.support.github_double import DOUBLE_TOKEN, GitHubApiDouble
from tests.support.hello import ServiceReaper
from tests.support.ssh_fixtures import HostsFactory
from tests.support.sshd import SshHost, SshLab
from tests.support.workflow_player import (
    REPO_ROOT,
    Played,
    Run,
    RunnerPython,
    Wheel,
    build_relman_wheel,
    play,
    wheelhouse,
)

pytestmark = pytest.mark.ssh

SECRET = "e2e-ci-secret-Vb7"
OPERATOR = "e2e-operator-secret-0123456789abcdef"
PREFIX = "/api/tg-bot"
QA = "tg:4242"
TAG_WORKFLOW = "on-create-version-tag.yaml"
APPROVE_WORKFLOW = "on-approve-manual-testing.yaml"
WORK_WORKFLOW = "on-push-in-work-branch.yaml"
BRANCH = "feature/greeting"


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the parts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    wheel: Wheel
    python: RunnerPython


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """relman's wheel from this checkout and the runner's Python (see the module doc)."""
    folder = tmp_path_factory.mktemp("runner-tools")
    wheel = build_relman_wheel(folder / "dist")
    wheels = wheelhouse(REPO_ROOT / "tests" / ".tools")
    return Tools(wheel, RunnerPython.create(folder / "python", wheels))


def service_origin(
    origin: Path, sample_repo: SampleRepo, toml: str, wheel: Wheel, env: dict[str, str]
) -> None:
    """Make ``origin``: a bare repository like ``sample_repo`` whose tags (moved) and work
    branch carry ``toml`` as relman.toml and the workflows ``relman init github`` writes."""
    work = origin.parent / "work"
    _git("clone", "-q", sample_repo.url, str(work))
    for ref in (*sample_repo.tags, BRANCH):
        start = sample_repo.commits["v1.1.0"] if ref == BRANCH else ref
        _git("checkout", "-q", "--detach", start, cwd=work)
        (work / "relman.toml").write_text(toml, encoding="utf-8")
        made = subprocess.run(
            [RELMAN, "init", "github", "--force", "--relman-spec", wheel.spec],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        _git("add", "relman.toml", ".github", cwd=work)
        _git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "relman", cwd=work)
        if ref == BRANCH:
            _git("branch", "-f", BRANCH, cwd=work)
        else:
            _git("tag", "-f", "-a", ref, "-m", ref, cwd=work)
    _git("clone", "-q", "--bare", str(work), str(origin))
    _git("branch", "-f", BRANCH, _git("rev-parse", BRANCH, cwd=work), cwd=origin)
    shutil.rmtree(work)


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]

    @property
    def api_url(self) -> str:
        return self.base + PREFIX

    def http(self, secret: str = SECRET) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {secret}"},
            trust_env=False,
            timeout=10.0,
        )

    def release(self, release_id: int | str) -> dict[str, Any]:
        with self.http() as http:
            response = http.get(f"/release/{release_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def wait_status(self, release_id: int | str, wanted: str, deadline_s: float = 60) -> None:
        deadline = time.monotonic() + deadline_s
        status = ""
        while time.monotonic() < deadline:
            status = self.release(release_id)["status"]
            if status == wanted:
                return
            time.sleep(0.2)  # polling interval, bounded by the deadline
        raise AssertionError(f"release {release_id} is {status}, not {wanted}")

    def approve(self, release_id: int | str) -> None:
        with self.http() as http:
            approved = http.post(
                f"/release/{release_id}/approve",
                json={"actor": QA},
                headers={"Authorization": f"Bearer {OPERATOR}"},
            )
        assert approved.status_code == 200, approved.text


def start_server(home: Path, toml: str, **env: str) -> Server:
    """``relman serve`` (API and worker) in ``home`` with ``toml`` as its relman.toml."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "relman.toml").write_text(toml, encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [RELMAN, "serve", "--migrate", "--port", str(port)],
        cwd=home,
        env=clean_env(LOOM_INTERSERVER_SECRET_KEY=SECRET, RELMAN_OPERATOR_SECRET=OPERATOR, **env),
        stdout=(home / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_healthy(f"http://127.0.0.1:{port}{PREFIX}/health", proc)
    return Server(f"http://127.0.0.1:{port}", proc)


def stop_server(server: Server, home: Path) -> None:
    server.proc.terminate()
    server.proc.wait(timeout=15)
    log = (home / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert SECRET not in log and OPERATOR not in log


def service_table(origin: Path, port: int) -> str:
    python = _toml(sys.executable)
    return f"""
[services.hello]
repo = {_toml(str(origin))}
github_repository = "org/hello"
workdir = "{{root}}/hello"
start_command = ["sh", "start.sh"]
log_file = "service.log"
health = {{ url = "http://{{address}}:{port}/health", attempts = 50, interval = 0.1 }}
env = {{ HELLO_HOST = "{{address}}", HELLO_PORT = "{port}", HELLO_PYTHON = {python} }}

[policy]
qa = ["{QA}"]
"""


def github_toml(origin: Path, port: int, hosts: dict[str, SshHost]) -> str:
    """stage, production and alice's dev server on sshd hosts, deployed by runners; the key
    and known_hosts at the paths the workflows write them to."""
    text = service_table(origin, port)
    for name, host in hosts.items():
        text += f"""
[hosts.{name}]
address = "{host.address}"
port = {host.port}
user = {_toml(host.user)}
key_file = ".relman/ssh/deploy_key"
known_hosts = ".relman/ssh/known_hosts"
root = {_toml(str(host.root))}
"""
    return (
        text
        + """
[environments.stage]
hosts = ["stage-box"]
executor = "github"
auto_rollback = false

[environments.production]
hosts = ["production-box"]
executor = "github"

[environments."dev:alice"]
hosts = ["dev-box"]
owner = "alice"
"""
    )


@dataclass
class GitHubSetup:
    """The github-executor world: the origin, the hosts, the server, the GitHub double."""

    origin: Path
    port: int
    hosts: dict[str, SshHost]
    server: Server
    github: GitHubApiDouble
    tools: Tools
    tmp: Path
    lab: SshLab
    runs: int = 0

    def settings(self, **drop: bool) -> tuple[dict[str, str], dict[str, str]]:
        """The repository's variables and secrets (``drop``: names to leave unset)."""
        known_hosts = "".join(h.known_hosts_line + "\n" for h in self.hosts.values())
        key = self.lab.client_key.private_key.read_text(encoding="utf-8")
        variables = {"LOOM_RELEASE_TG_BOT_API_URL": self.server.api_url}
        secrets = {
            "LOOM_INTERSERVER_SECRET_KEY": SECRET,
            "RELMAN_SSH_KEY": key,
            "RELMAN_KNOWN_HOSTS": known_hosts,
        }
        for name in drop:
            variables.pop(name, None)
            secrets.pop(name, None)
        return variables, secrets

    def play(self, workflow: str, run: Run) -> Played:
        self.runs += 1
        return play(
            self.tmp / "checkout" / ".github" / "workflows" / workflow,
            run,
            runner=self.tmp / f"runner-{self.runs}",
            python=self.tools.python,
        )

    def run(self, ref: str, run_id: str, actor: str = "alice", **drop: bool) -> Run:
        variables, secrets = self.settings(**drop)
        return Run(str(self.origin), ref, run_id, actor=actor, vars=variables, secrets=secrets)

    def version(self, host: str) -> object:
        address = self.hosts[host].address
        response = httpx.get(f"http://{address}:{self.port}/health", trust_env=False, timeout=5)
        return response.json().get("version") if response.status_code == 200 else None

    def secrets_in(self, played: Played) -> list[str]:
        _, secrets = self.settings()
        text = played.log()
        return [name for name, value in secrets.items() if value.strip() in text]


@pytest.fixture(scope="module")
def gh(
    tmp_path_factory: pytest.TempPathFactory,
    sample_repo: SampleRepo,
    tools: Tools,
    ssh_lab: SshLab,
    module_ssh_hosts: HostsFactory,
) -> Iterator[GitHubSetup]:
    tmp = tmp_path_factory.mktemp("ci-github")
    reaper = ServiceReaper()
    started = module_ssh_hosts(3)
    hosts = dict(zip(("stage-box", "production-box", "dev-box"), started, strict=True))
    for host in started:
        reaper.watch(host.root / "hello")
    port = free_port()
    origin = tmp / "origin" / "hello.git"
    toml = github_toml(origin, port, hosts)
    env = clean_env(HOME=str(tmp / "home"), GIT_CONFIG_NOSYSTEM="1")
    service_origin(origin, sample_repo, toml, tools.wheel, env)
    _git("clone", "-q", str(origin), str(tmp / "checkout"))
    with GitHubApiDouble() as github:
        github.declare_workflow(
            "org/hello", APPROVE_WORKFLOW, inputs=["release_id", "tag", "environment", "git_sha"]
        )
        server = start_server(
            tmp / "server",
            toml,
            RELMAN_GITHUB_TOKEN=DOUBLE_TOKEN,
            RELMAN_GITHUB_API_URL=github.api_url,
        )
        try:
            yield GitHubSetup(origin, port, hosts, server, github, tools, tmp, ssh_lab)
        finally:
            stop_server(server, tmp / "server")
            reaper.reap()


def events(release: dict[str, Any]) -> list[str]:
    return [e["to_status"] for e in release["events"]]


# --- github executor: tag → stage from the runner → QA ------------------------------------


def test_a_tag_is_deployed_to_stage_from_the_runner_and_handed_to_qa(gh: GitHubSetup) -> None:
    played = gh.play(TAG_WORKFLOW, gh.run("refs/tags/v1.0.0", "7001"))
    outcomes = dict(played.outcomes())
    assert [name for name, outcome in played.outcomes() if outcome == "failure"] == [], played.log()
    for step in (
        "Check the settings",
        "Check out the tag",
        "Install relman",
        "Record the release",
        "Write the SSH key and known_hosts",
        "Deploy to stage",
        "Hand the release to manual testing",
        "Remove the SSH key and known_hosts",
    ):
        assert outcomes[step] == "success", played.log()
    assert outcomes["Report the stage failure"] == "skipped"
    # the artifact steps run once relman ci deploy reports a deployment id
    uploaded = "success" if played.outputs["deploy"].get("deployment_id") else "skipped"
    assert outcomes["Upload the deploy log and evidence"] == uploaded, played.log()
    assert outcomes["Report the artifact to relman"] == uploaded, played.log()

    release_id = played.outputs["release"]["release_id"]
    release = gh.server.release(release_id)
    assert release["status"] == "manual_testing"
    assert (release["release_tag"], release["github_run_id"]) == ("v1.0.0", "7001")
    assert events(release) == ["initiated", "building", "stage_deploy", "manual_testing"]
    assert gh.version("stage-box") == "1.0.0"  # over sshd, from the runner
    # the key and known_hosts were written 0600 and are gone at the end of the job
    assert not (played.workspace / ".relman" / "ssh" / "deploy_key").exists()
    assert not (played.workspace / ".relman" / "ssh" / "known_hosts").exists()
    assert gh.secrets_in(played) == []


def test_a_missing_secret_fails_the_first_step_naming_it(gh: GitHubSetup) -> None:
    played = gh.play(TAG_WORKFLOW, gh.run("refs/tags/v1.0.0", "7002", RELMAN_SSH_KEY=True))
    first = played.steps[0]
    assert (first.name, first.outcome) == ("Check the settings", "failure")
    assert first.stdout.splitlines() == ["::error::secret RELMAN_SSH_KEY is not set"]
    ran = [name for name, outcome in played.outcomes()[1:] if outcome != "skipped"]
    assert ran == ["Remove the SSH key and known_hosts"]  # if: always()
    assert gh.secrets_in(played) == []


def test_a_missing_variable_is_named_too(gh: GitHubSetup) -> None:
    run = gh.run("refs/tags/v1.0.0", "7003", LOOM_RELEASE_TG_BOT_API_URL=True)
    played = gh.play(TAG_WORKFLOW, run)
    assert played.steps[0].stdout.splitlines() == [
        "::error::variable LOOM_RELEASE_TG_BOT_API_URL is not set"
    ]
    assert played.outcomes()[1] == ("Check out the tag", "skipped")


# --- github executor: approval → dispatch → production; a broken tag rolls back -----------


def _dispatched_inputs(gh: GitHubSetup, release_id: str, deadline_s: float = 30) -> dict[str, str]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for request in gh.github.dispatches:
            inputs: dict[str, str] = request.json()["inputs"]
            if inputs.get("release_id") == release_id:
                return inputs
        time.sleep(0.2)  # polling interval, bounded by the deadline
    raise AssertionError(f"no dispatch for release {release_id}: {gh.github.requests}")


def _ship_to_qa(gh: GitHubSetup, tag: str, run_id: str) -> str:
    played = gh.play(TAG_WORKFLOW, gh.run(f"refs/tags/{tag}", run_id))
    assert played.ok, played.log()
    release_id = played.outputs["release"]["release_id"]
    gh.server.wait_status(release_id, "manual_testing")
    return release_id


def _approve_and_play(gh: GitHubSetup, release_id: str, run_id: str) -> tuple[Played, dict]:
    gh.server.approve(release_id)
    inputs = _dispatched_inputs(gh, release_id)
    run = gh.run("refs/heads/main", run_id, actor="relman-bot")
    run.event = "workflow_dispatch"
    run.inputs = dict(inputs)
    return gh.play(APPROVE_WORKFLOW, run), inputs


def test_an_approval_dispatches_the_workflow_that_deploys_production(gh: GitHubSetup) -> None:
    release_id = _ship_to_qa(gh, "v1.1.0", "7101")
    played, inputs = _approve_and_play(gh, release_id, "7102")
    tagged = _git("rev-parse", "v1.1.0^{commit}", cwd=gh.origin)
    assert inputs == {
        "release_id": release_id,
        "tag": "v1.1.0",
        "environment": "production",
        "git_sha": tagged,
    }
    assert played.ok, played.log()
    assert dict(played.outcomes())["Report the release as deployed"] == "success"
    assert dict(played.outcomes())["Report the production failure"] == "skipped"
    assert gh.server.release(release_id)["status"] == "deployed"
    assert gh.version("production-box") == "1.1.0"
    assert gh.secrets_in(played) == []


def test_a_broken_production_deploy_rolls_back_from_the_servers_history(
    gh: GitHubSetup,
) -> None:
    # production runs v1.1.0 (the test before); v1.2.0 answers 500 on /health. Its stage
    # deploy would fail too, so it reaches QA as CI reports it would.
    with gh.server.http() as http:
        created = http.post(
            "/release",
            json={
                "service_name": "hello",
                "release_tag": "v1.2.0",
                "initiated_by": "alice",
                "github_run_id": "7201",
                "github_action_link": "",
                "github_ref": "refs/tags/v1.2.0",
            },
        )
        assert created.status_code == 201, created.text
        release_id = str(created.json()["id"])
        for status in ("building", "stage_deploy", "manual_testing"):
            moved = http.patch(f"/release/{release_id}", json={"status": status})
            assert moved.status_code == 200, moved.text
    played, _ = _approve_and_play(gh, release_id, "7202")
    outcomes = dict(played.outcomes())
    assert outcomes["Deploy to production"] == "failure", played.log()
    assert outcomes["Report the production failure"] == "success", played.log()
    deploy = played.step("Deploy to production")
    assert "automatic rollback to v1.1.0" in deploy.stdout, played.log()
    assert gh.version("production-box") == "1.1.0"
    assert gh.server.release(release_id)["status"] == "production_failed"


# --- the work-branch workflow: the author's dev server ------------------------------------


def test_a_pushed_branch_lands_on_its_authors_dev_server(gh: GitHubSetup) -> None:
    played = gh.play(WORK_WORKFLOW, gh.run(f"refs/heads/{BRANCH}", "7301"))
    assert played.ok, played.log()
    deploy = played.step("Deploy the branch to the dev server")
    assert f"hello {BRANCH} → dev server of alice: ok" in deploy.stdout, played.log()
    assert gh.version("dev-box") == "1.1.0"
    assert gh.secrets_in(played) == []

    nobody = gh.play(WORK_WORKFLOW, gh.run(f"refs/heads/{BRANCH}", "7302", actor="bob"))
    assert nobody.ok, nobody.log()
    assert (
        "no developer server for bob" in nobody.step("Deploy the branch to the dev server").stdout
    )


# --- local executor: the tag workflow records, relman's worker deploys stage --------------


@pytest.fixture
def local_world(
    tmp_path: Path, sample_repo: SampleRepo, tools: Tools, service_reaper: ServiceReaper
) -> Iterator[tuple[Server, Path, int, Callable[[str], Played]]]:
    port = free_port()
    stage_root = tmp_path / "stage-host"
    service_reaper.watch(stage_root / "hello")
    env = clean_env(HOME=str(tmp_path / "home"), GIT_CONFIG_NOSYSTEM="1")
    origin = tmp_path / "origin" / "hello.git"
    toml = (
        service_table(origin, port)
        + f"""
[hosts.stage-box]
transport = "local"
address = "127.0.0.1"
root = {_toml(str(stage_root))}

[environments.stage]
hosts = ["stage-box"]
auto_rollback = false
"""
    )
    service_origin(origin, sample_repo, toml, tools.wheel, env)
    checkout = tmp_path / "checkout"
    _git("clone", "-q", str(origin), str(checkout))
    server = start_server(tmp_path / "server", toml)
    runs = iter(range(1, 100))

    def play_tag(tag: str) -> Played:
        run = Run(
            str(origin),
            f"refs/tags/{tag}",
            "7401",
            vars={"LOOM_RELEASE_TG_BOT_API_URL": server.api_url},
            secrets={"LOOM_INTERSERVER_SECRET_KEY": SECRET},
        )
        return play(
            checkout / ".github" / "workflows" / TAG_WORKFLOW,
            run,
            runner=tmp_path / f"runner-{next(runs)}",
            python=tools.python,
        )

    try:
        yield server, stage_root, port, play_tag
    finally:
        stop_server(server, tmp_path / "server")


def test_with_the_local_executor_the_tag_workflow_records_and_relman_deploys(
    local_world: tuple[Server, Path, int, Callable[[str], Played]],
) -> None:
    server, _stage_root, port, play_tag = local_world
    played = play_tag("v1.0.0")
    assert played.outcomes() == [
        ("Check the settings", "success"),
        ("Check out the tag", "success"),
        ("Set up Python", "success"),
        ("Install relman", "success"),
        ("Check the tag format (v*.*.*)", "success"),
        ("Record the release", "success"),
    ], played.log()
    release_id = played.outputs["release"]["release_id"]
    # relman's worker deploys stage and hands the release to QA
    server.wait_status(release_id, "manual_testing")
    health = httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False, timeout=5)
    assert health.json()["version"] == "1.0.0"
    assert SECRET not in played.log()
