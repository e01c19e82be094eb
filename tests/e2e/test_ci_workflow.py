"""The generated GitHub workflows, played step by step against a running ``relman serve``.

``relman init github`` writes the workflows into a service repository (which also holds
its ``relman.toml``); :func:`play` reads one back and runs its steps the way a fresh runner
does: in an empty workspace, the job's and the step's ``env`` with ``${{ … }}`` filled in
from the run's context, each ``run:`` script by ``bash -e`` with GitHub's default variables
(``GITHUB_RUN_ID``, ``GITHUB_REF``, ``GITHUB_ACTOR``, ``GITHUB_OUTPUT`` …), ``if:``
conditions such as ``failure()``, and step outputs. What actions do before relman runs,
the test provides: ``actions/checkout`` copies the repository into the workspace,
``setup-python`` and ``pip install relman`` are this virtualenv on ``PATH``. Those steps
are checked by name, so a new step cannot be skipped unnoticed. Every run gets a new
runner: nothing (such as relman's runner-local SQLite database) survives between runs.

Deploys go to hello-service from the sample repository on local "hosts" (127.0.0.1 for
stage, 127.0.0.2 for production) and are checked over HTTP; releases are checked through
the API (``GET /release/{id}``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve import RELMAN, clean_env, free_port, relman, wait_healthy

from relman.demo.sample_repo import SampleRepo
from tests.support.git_repo import isolate_git_config
from tests.support.hello import ServiceReaper

SECRET = "e2e-ci-secret-Vb7"
OPERATOR = "e2e-operator-secret-0123456789abcdef"
PREFIX = "/api/tg-bot"
VENV_BIN = str(Path(sys.executable).parent)
STAGE_ADDRESS = "127.0.0.1"
PRODUCTION_ADDRESS = "127.0.0.2"
DEV_ADDRESS = "127.0.0.3"
STEP_TIMEOUT = 180.0  # seconds one workflow step may take

# Steps a runner does before relman is there; the test provides what they would.
PROVIDED = {
    "Check out the tag",
    "Check out the approved tag",
    "Check out the branch",
    "Set up Python",
    "Install relman",
}


# --- a small reader for the workflow files (the subset of YAML the templates use) ---------


def parse_yaml(text: str) -> Any:
    """Block mappings and sequences, plain and quoted scalars (kept as strings), ``|`` and
    ``>-`` block scalars, comments. Enough for the generated workflows; anything else
    fails loudly rather than being misread."""
    return _Yaml(text.splitlines()).node()


class _Yaml:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def _peek(self) -> tuple[int, str] | None:
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and not line.lstrip().startswith("#"):
                return len(line) - len(line.lstrip(" ")), line.strip()
            self.i += 1
        return None

    def node(self) -> Any:
        peeked = self._peek()
        assert peeked is not None, "empty node"
        indent, text = peeked
        if text == "-" or text.startswith("- "):
            return self._sequence(indent)
        return self._mapping(indent)

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while (peeked := self._peek()) and peeked[0] == indent and peeked[1].startswith("- "):
            rest = peeked[1][2:].strip()
            if re.match(r"^[\w.-]+:( |$)", rest):
                # "- key: value": the item is a mapping whose keys sit two columns in
                self.lines[self.i] = " " * (indent + 2) + rest
                items.append(self._mapping(indent + 2))
            else:
                self.i += 1
                items.append(_scalar(rest))
        return items

    def _mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while (peeked := self._peek()) and peeked[0] == indent:
            text = peeked[1]
            match = re.match(r"^([\w.-]+):(?: (.*))?$", text)
            assert match, f"not a mapping entry: {text!r}"
            key, rest = match[1], (match[2] or "").strip()
            self.i += 1
            if rest in ("|", "|-", ">", ">-"):
                result[key] = self._block(indent, rest)
            elif rest and not rest.startswith("#"):
                result[key] = _scalar(rest)
            else:
                child = self._peek()
                nested = child is not None and (
                    child[0] > indent or (child[0] == indent and child[1].startswith("- "))
                )
                result[key] = self.node() if nested else None
        return result

    def _block(self, indent: int, style: str) -> str:
        body: list[str] = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
                break
            body.append(line)
            self.i += 1
        while body and not body[-1].strip():
            body.pop()
        cut = min(len(x) - len(x.lstrip(" ")) for x in body if x.strip())
        lines = [x[cut:] for x in body]
        if style.startswith(">"):
            assert all(x.strip() and not x.startswith(" ") for x in lines), "folding: simple"
            text = " ".join(lines)
        else:
            text = "\n".join(lines)
        return text if style.endswith("-") else text + "\n"


def _scalar(text: str) -> str:
    if text[:1] in "\"'":
        quote = text[0]
        end = text.index(quote, 1)
        assert not text[end + 1 :].strip() or text[end + 1 :].strip().startswith("#"), text
        return text[1:end]
    return text.split(" #", 1)[0].strip()


# --- playing a workflow --------------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepRun:
    """One step of a played job: ``outcome`` is success, failure, skipped (its ``if:`` was
    false) or provided (the test stands in for it)."""

    name: str
    outcome: str
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None


@dataclass
class Played:
    steps: list[StepRun]
    outputs: dict[str, str]

    def outcomes(self) -> list[tuple[str, str]]:
        return [(s.name, s.outcome) for s in self.steps]

    def step(self, name: str) -> StepRun:
        (found,) = [s for s in self.steps if s.name == name]
        return found


class Context:
    """``${{ … }}`` values: ``github.*``, ``vars.*``, ``secrets.*``, ``inputs.*`` as given
    (an unknown one fails the test), ``steps.<id>.outputs.<name>`` from the steps so far
    (empty until set, as on GitHub)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def lookup(self, name: str) -> str:
        if name.startswith("steps."):
            return self.values.get(name, "")
        assert name in self.values, f"the workflow uses ${{{{ {name} }}}}; give it to play()"
        return self.values[name]

    def evaluate(self, expression: str) -> str:
        value = ""
        for part in (p.strip() for p in expression.split("||")):
            value = part[1:-1] if part[:1] == "'" else self.lookup(part)
            if value:
                return value
        return value

    def fill(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.evaluate(m[1]), text)

    def condition(self, expression: str | None, failed: bool) -> bool:
        if not expression:
            return not failed
        inner = _EXPRESSION.fullmatch(expression.strip())
        terms = [t.strip() for t in (inner[1] if inner else expression).split("&&")]
        status = {"success()": not failed, "failure()": failed, "always()": True}
        result = True
        checked_status = False
        for term in terms:
            if term in status:
                checked_status = True
                result = result and status[term]
                continue
            compare = re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", term)
            assert compare, f"if: {expression!r} is beyond this test's reader"
            equal = self.lookup(compare[1]) == compare[3]
            result = result and (equal if compare[2] == "==" else not equal)
        return result and (checked_status or not failed)


def play(
    workflow: Path,
    *,
    repo: Path,
    runner: Path,
    github: Mapping[str, str],
    context: Mapping[str, str],
) -> Played:
    """Run the (single) job of ``workflow`` on a fresh runner in the folder ``runner``.

    ``repo`` is what ``actions/checkout`` puts into the workspace, ``github`` GitHub's
    default variables of the run, ``context`` the values of the ``${{ … }}`` expressions
    the workflow uses. Steps in :data:`PROVIDED` are not run as such (see the module doc).
    """
    document = parse_yaml(workflow.read_text(encoding="utf-8"))
    (job,) = document["jobs"].values()
    workspace, temp = runner / "workspace", runner / "temp"
    workspace.mkdir(parents=True)
    temp.mkdir()
    ctx = Context(context)
    env = clean_env(**github)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update({"GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp)})
    env.update({k: ctx.fill(v) for k, v in (job.get("env") or {}).items()})
    runs: list[StepRun] = []
    failed = False
    for number, step in enumerate(job["steps"]):
        assert set(step) <= {"name", "id", "if", "run", "env", "uses", "with"}, step
        name = step["name"]
        if not ctx.condition(step.get("if"), failed):
            runs.append(StepRun(name, "skipped"))
            continue
        if "uses" in step or step["run"].startswith("python -m pip install"):
            assert name in PROVIDED, f"step {name!r} needs something this test does not give"
            if step.get("uses", "").startswith("actions/checkout@"):
                shutil.copytree(repo, workspace, dirs_exist_ok=True)
            runs.append(StepRun(name, "provided"))
            continue
        output = temp / f"github-output-{number}"
        output.write_text("", encoding="utf-8")
        script = temp / f"step-{number}.sh"
        script.write_text(step["run"], encoding="utf-8")
        step_env = {**env, "GITHUB_OUTPUT": str(output)}
        step_env.update({k: ctx.fill(v) for k, v in (step.get("env") or {}).items()})
        done = subprocess.run(
            ["bash", "-e", str(script)],  # GitHub's default shell for run: bash -e {0}
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=STEP_TIMEOUT,
        )
        if "id" in step:
            for line in output.read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition("=")
                ctx.values[f"steps.{step['id']}.outputs.{key}"] = value
        outcome = "success" if done.returncode == 0 else "failure"
        failed = failed or done.returncode != 0
        runs.append(StepRun(name, outcome, done.stdout, done.stderr, done.returncode))
    outputs = {k: v for k, v in ctx.values.items() if k.startswith("steps.")}
    return Played(runs, outputs)


# --- the parts: a relman server, the service repository, the hosts -----------------------


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT

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

    def approved_release(self, tag: str, run_id: str) -> int:
        """A release of hello ``tag`` that QA approved (moved through the API as the
        stage workflow and the bot would)."""
        with self.http() as http:
            created = http.post(
                "/release",
                json={
                    "service_name": "hello",
                    "release_tag": tag,
                    "initiated_by": "alice",
                    "github_run_id": run_id,
                    "github_action_link": "",
                    "github_ref": f"refs/tags/{tag}",
                },
            )
            assert created.status_code == 201, created.text
            rid = int(created.json()["id"])
            for status in ("building", "stage_deploy", "manual_testing"):
                moved = http.patch(f"/release/{rid}", json={"status": status, "actor": "gh:alice"})
                assert moved.status_code == 200, moved.text
            # QA's decision is not a status report: it goes through approve (policy below).
            approved = http.post(
                f"/release/{rid}/approve",
                json={"actor": "tg:4242"},
                headers={"Authorization": f"Bearer {OPERATOR}"},
            )
            assert approved.status_code == 200, approved.text
        return rid


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``relman serve`` on the embedded SQLite, in its own folder, with :data:`SECRET`."""
    home = tmp_path_factory.mktemp("relman-server")
    # The server deploys nothing itself (hello is not configured here: the workflows
    # deploy); its policy lets the QA engineer tg:4242 approve.
    (home / "relman.toml").write_text('[policy]\nqa = ["tg:4242"]\n', encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [RELMAN, "serve", "--migrate", "--port", str(port)],
        cwd=home,
        env=clean_env(LOOM_INTERSERVER_SECRET_KEY=SECRET, RELMAN_OPERATOR_SECRET=OPERATOR),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}{PREFIX}/health", proc)
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode()
    assert SECRET not in output and OPERATOR not in output


@dataclass
class ServiceRepo:
    """hello's repository as a runner checks it out (``relman.toml`` and the generated
    workflows), the hosts it deploys to (stage 127.0.0.1, production 127.0.0.2, alice's
    dev server 127.0.0.3, all on ``port``), and a new runner folder per run."""

    path: Path
    port: int
    tmp: Path
    runs: int = 0

    def play(self, workflow: str, github: Mapping[str, str], context: Mapping[str, str]) -> Played:
        self.runs += 1
        return play(
            self.path / ".github" / "workflows" / workflow,
            repo=self.path,
            runner=self.tmp / f"runner-{self.runs}",
            github=github,
            context=context,
        )

    def health(self, address: str) -> httpx.Response:
        return httpx.get(f"http://{address}:{self.port}/health", trust_env=False, timeout=5.0)

    def host_dir(self, name: str) -> Path:
        return self.tmp / name / "hello"


def _toml(value: str) -> str:
    return json.dumps(value)  # a TOML basic string for plain paths and URLs


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def service(
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    monkeypatch: pytest.MonkeyPatch,
) -> ServiceRepo:
    isolate_git_config(monkeypatch, tmp_path / "home")
    # origin: the sample repository plus a work branch (at v1.1.0) for dev deploys
    origin = tmp_path / "origin" / "hello.git"
    _git("clone", "-q", "--bare", sample_repo.url, str(origin))
    _git("-C", str(origin), "branch", "feature/greeting", sample_repo.commits["v1.1.0"])

    path = tmp_path / "repo"
    path.mkdir()
    port = free_port()
    for host in ("stage-host", "production-host", "dev-host"):
        service_reaper.watch(tmp_path / host / "hello")
    python = _toml(sys.executable)
    (path / "relman.toml").write_text(
        f"""
[services.hello]
repo = {_toml(str(origin))}
workdir = "{{root}}/hello"
start_command = ["sh", "start.sh"]
log_file = "service.log"
health = {{ url = "http://{{address}}:{port}/health", attempts = 30, interval = 0.1 }}
env = {{ HELLO_HOST = "{{address}}", HELLO_PORT = "{port}", HELLO_PYTHON = {python} }}

[hosts.stage-box]
transport = "local"
address = "{STAGE_ADDRESS}"
root = {_toml(str(tmp_path / "stage-host"))}

[hosts.production-box]
transport = "local"
address = "{PRODUCTION_ADDRESS}"
root = {_toml(str(tmp_path / "production-host"))}

[hosts.dev-box]
transport = "local"
address = "{DEV_ADDRESS}"
root = {_toml(str(tmp_path / "dev-host"))}

[environments.stage]
hosts = ["stage-box"]
auto_rollback = false

[environments.production]
hosts = ["production-box"]

[environments."dev:alice"]
hosts = ["dev-box"]
owner = "alice"
""",
        encoding="utf-8",
    )
    generated = relman(["init", "github", "--service", "hello", "--path", str(path)], path)
    assert generated.returncode == 0, generated.stderr
    return ServiceRepo(path, port, tmp_path)


def github_run(run_id: str, ref: str, actor: str = "alice", event: str = "push") -> dict[str, str]:
    """GitHub's default variables of a run on ``ref`` (``refs/tags/…``, ``refs/heads/…``)."""
    return {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_RUN_ID": run_id,
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_REF": ref,
        "GITHUB_REF_NAME": ref.split("/", 2)[2],
        "GITHUB_REF_TYPE": "tag" if ref.startswith("refs/tags/") else "branch",
        "GITHUB_ACTOR": actor,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "org/hello",
    }


def repository_settings(server: Server) -> dict[str, str]:
    """The repository's variable and secret the workflows read."""
    return {
        "vars.LOOM_RELEASE_TG_BOT_API_URL": server.api_url,
        "vars.RELMAN_OIDC_AUDIENCE": "",
        "secrets.LOOM_INTERSERVER_SECRET_KEY": SECRET,
    }


def events(release: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["to_status"], e["actor"]) for e in release["events"]]


def why(played: Played) -> list[tuple[str, str, str]]:
    """Each step's outcome and output, for assertion messages."""
    return [(s.name, s.outcome, s.stdout + s.stderr) for s in played.steps]


# --- the tag workflow (on-create-version-tag) ---------------------------------------------


def push_tag(server: Server, service: ServiceRepo, run_id: str, tag: str) -> Played:
    return service.play(
        "on-create-version-tag.yaml",
        github_run(run_id, f"refs/tags/{tag}"),
        {
            "github.ref_name": tag,
            "github.repository": "org/hello",
            **repository_settings(server),
        },
    )


def test_a_pushed_tag_reaches_manual_testing(server: Server, service: ServiceRepo) -> None:
    played = push_tag(server, service, "7001", "v1.0.0")
    assert played.outcomes() == [
        ("Check out the tag", "provided"),
        ("Set up Python", "provided"),
        ("Install relman", "provided"),
        ("Check the tag format (v*.*.*)", "success"),
        ("Record the release", "success"),
        ("Deploy to stage", "success"),
        ("Hand the release to manual testing", "success"),
        ("Report the stage failure", "skipped"),
    ], why(played)

    release_id = played.outputs["steps.release.outputs.release_id"]
    assert release_id.isdigit()  # release-start printed the id and nothing else
    release = server.release(release_id)
    assert release["status"] == "manual_testing"
    assert release["service_name"] == "hello" and release["release_tag"] == "v1.0.0"
    assert release["initiated_by"] == "alice"
    assert release["github_run_id"] == "7001"
    assert release["github_ref"] == "refs/tags/v1.0.0"
    assert release["github_action_link"] == "https://github.com/org/hello/actions/runs/7001"
    assert events(release) == [
        ("initiated", "alice"),
        ("building", "gh:alice"),
        ("stage_deploy", "gh:alice"),
        ("manual_testing", "gh:alice"),
    ]
    link = release["github_action_link"]
    assert all(link in e["note"] for e in release["events"][1:])

    # the stage host really serves the tag
    health = service.health(STAGE_ADDRESS)
    assert health.status_code == 200 and health.json()["version"] == "1.0.0"
    deploy = played.step("Deploy to stage")
    assert "hello v1.0.0 → stage: ok" in deploy.stdout
    assert SECRET not in deploy.stdout + deploy.stderr


def test_a_failed_stage_deploy_is_reported_once(server: Server, service: ServiceRepo) -> None:
    # v1.3.0 is a valid tag that the service's repository does not have
    played = push_tag(server, service, "7002", "v1.3.0")
    assert played.outcomes()[3:] == [
        ("Check the tag format (v*.*.*)", "success"),
        ("Record the release", "success"),
        ("Deploy to stage", "failure"),
        ("Hand the release to manual testing", "skipped"),
        ("Report the stage failure", "success"),
    ], why(played)
    deploy = played.step("Deploy to stage")
    assert deploy.returncode == 1
    assert "hello v1.3.0 → stage: FAILED" in deploy.stdout
    release = server.release(played.outputs["steps.release.outputs.release_id"])
    assert release["status"] == "staging_failed"
    assert events(release) == [
        ("initiated", "alice"),
        ("building", "gh:alice"),
        ("stage_deploy", "gh:alice"),
        ("staging_failed", "gh:alice"),
    ]


def test_a_bad_tag_stops_the_workflow_before_a_release_is_recorded(
    server: Server, service: ServiceRepo
) -> None:
    played = push_tag(server, service, "7003", "v1.0")
    assert played.outcomes()[3:] == [
        ("Check the tag format (v*.*.*)", "failure"),
        ("Record the release", "skipped"),
        ("Deploy to stage", "skipped"),
        ("Hand the release to manual testing", "skipped"),
        ("Report the stage failure", "skipped"),  # no release id: nothing to report
    ], why(played)


# --- the approval workflow (on-approve-manual-testing) ------------------------------------


def approve(server: Server, service: ServiceRepo, run_id: str, release_id: int, tag: str) -> Played:
    """The run relman's pipeline dispatches (workflow_dispatch) once QA approved."""
    return service.play(
        "on-approve-manual-testing.yaml",
        github_run(run_id, "refs/heads/main", actor="relman-bot", event="workflow_dispatch"),
        {
            "inputs.release_id": str(release_id),
            "inputs.tag": tag,
            "inputs.environment": "production",
            "github.repository": "org/hello",
            **repository_settings(server),
        },
    )


def test_an_approved_release_is_deployed_and_a_broken_one_reported(
    server: Server, service: ServiceRepo
) -> None:
    good = server.approved_release("v1.1.0", run_id="7101")
    played = approve(server, service, "7102", good, "v1.1.0")
    assert played.outcomes()[3:] == [
        ("Check the tag format (v*.*.*)", "success"),
        ("Deploy to production", "success"),
        ("Report the release as deployed", "success"),
        ("Report the production failure", "skipped"),
    ], why(played)
    release = server.release(good)
    assert release["status"] == "deployed"
    assert events(release)[-3:] == [
        ("manual_test_passed", "tg:4242"),
        ("deploying", "gh:relman-bot"),
        ("deployed", "gh:relman-bot"),
    ]
    assert service.health(PRODUCTION_ADDRESS).json()["version"] == "1.1.0"

    # v1.2.0 fails its health check; the workflow reports it, once
    broken = server.approved_release("v1.2.0", run_id="7103")
    played = approve(server, service, "7104", broken, "v1.2.0")
    assert played.outcomes()[3:] == [
        ("Check the tag format (v*.*.*)", "success"),
        ("Deploy to production", "failure"),
        ("Report the release as deployed", "skipped"),
        ("Report the production failure", "success"),
    ], why(played)
    deploy = played.step("Deploy to production")
    assert "hello v1.2.0 → production: FAILED" in deploy.stdout
    # A fresh runner's own database has no deploy history, so there is nothing to roll
    # back to automatically (see the report: the runner needs the shared database).
    assert "no automatic rollback: no earlier healthy deploy" in deploy.stdout
    release = server.release(broken)
    assert release["status"] == "production_failed"
    assert [status for status, _ in events(release)].count("production_failed") == 1


# --- the work-branch workflow (on-push-in-work-branch) ------------------------------------


def push_branch(service: ServiceRepo, server: Server, run_id: str, actor: str) -> Played:
    return service.play(
        "on-push-in-work-branch.yaml",
        github_run(run_id, "refs/heads/feature/greeting", actor=actor),
        {
            "github.ref_name": "feature/greeting",
            "github.actor": actor,
            **repository_settings(server),
        },
    )


def test_a_pushed_branch_lands_on_its_authors_dev_server(
    server: Server, service: ServiceRepo
) -> None:
    played = push_branch(service, server, "7301", "alice")
    assert played.outcomes() == [
        ("Check out the branch", "provided"),
        ("Set up Python", "provided"),
        ("Install relman", "provided"),
        ("Deploy the branch to the dev server", "success"),
    ], why(played)
    assert "hello feature/greeting → dev server of alice: ok" in played.steps[-1].stdout
    health = service.health(DEV_ADDRESS)
    assert health.status_code == 200 and health.json()["version"] == "1.1.0"


def test_an_author_without_a_dev_server_is_not_a_failure(
    server: Server, service: ServiceRepo
) -> None:
    played = push_branch(service, server, "7302", "bob")
    step = played.steps[-1]
    assert step.outcome == "success", why(played)
    assert "no developer server for bob" in step.stdout
    assert not service.host_dir("dev-host").exists()


# --- refusals and failures of single commands ---------------------------------------------


def ci(service: ServiceRepo, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``relman ci …`` in the repository with a run's variables (``env`` wins)."""
    return relman(["ci", *args], service.path, **{**github_run("7200", "refs/tags/v1.0.0"), **env})


DEPLOY = ["deploy", "--service", "hello", "--tag", "v1.0.0"]


def api_env(server: Server, secret: str = SECRET) -> dict[str, str]:
    return {"LOOM_RELEASE_TG_BOT_API_URL": server.api_url, "LOOM_INTERSERVER_SECRET_KEY": secret}


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for part in parts:
        assert part in errors[0], errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    return errors[0]


def test_an_unreachable_api_is_retried_then_a_clear_failure(service: ServiceRepo) -> None:
    nobody = f"http://127.0.0.1:{free_port()}{PREFIX}"
    started = time.monotonic()
    result = ci(
        service,
        ["release-start", "--service", "hello", "--tag", "v1.0.0"],
        LOOM_RELEASE_TG_BOT_API_URL=nobody,
        LOOM_INTERSERVER_SECRET_KEY=SECRET,
        RELMAN_API_ATTEMPTS="3",
        RELMAN_API_BACKOFF="0.05",
    )
    assert_one_line_error(
        result, 1, f"cannot reach the relman API at {nobody}", "after 3 attempts", "ConnectError"
    )
    retries = [line for line in result.stderr.splitlines() if "retrying in" in line]
    assert [r.split("attempt ")[1] for r in retries] == [
        "1 of 3, retrying in 0.05s",
        "2 of 3, retrying in 0.1s",
    ]
    assert result.stdout == ""  # a workflow capturing the id gets nothing
    assert time.monotonic() - started >= 0.15  # the backoff really waited
    assert SECRET not in result.stderr


def test_a_wrong_secret_is_refused_with_a_hint(server: Server, service: ServiceRepo) -> None:
    result = ci(
        service,
        ["release-start", "--service", "hello", "--tag", "v1.0.0"],
        **api_env(server, secret="not-the-secret-1"),
    )
    assert_one_line_error(
        result,
        2,
        "POST /release: 401 unauthenticated: wrong credentials",
        "check LOOM_INTERSERVER_SECRET_KEY",
    )
    assert "not-the-secret-1" not in result.stderr and result.stdout == ""


def test_a_bad_tag_is_refused_by_the_api(server: Server, service: ServiceRepo) -> None:
    result = ci(
        service, ["release-start", "--service", "hello", "--tag", "1.2.3"], **api_env(server)
    )
    assert_one_line_error(result, 2, "422 invalid_input", "'1.2.3'", "(field: release_tag)")
    assert result.stdout == ""


def test_an_illegal_transition_is_refused_and_nothing_changes(
    server: Server, service: ServiceRepo
) -> None:
    started = ci(
        service,
        ["release-start", "--service", "hello", "--tag", "v1.0.0"],
        GITHUB_RUN_ID="7201",
        **api_env(server),
    )
    assert started.returncode == 0, started.stderr
    release_id = started.stdout.strip()
    assert release_id.isdigit()

    result = ci(service, ["report", "deployed", "--release-id", release_id], **api_env(server))
    assert_one_line_error(
        result,
        2,
        f"PATCH /release/{release_id}: 409 illegal_transition",
        "cannot go from initiated to deployed; allowed: building, staging_failed",
    )
    # a deploy needs a release in a deployable status, and deploys nothing otherwise
    result = ci(
        service,
        [*DEPLOY, "--env", "production", "--release-id", release_id],
        **api_env(server),
    )
    assert_one_line_error(
        result, 2, f"release {release_id} is initiated; a deploy to production starts from"
    )
    assert server.release(release_id)["status"] == "initiated"
    assert not service.host_dir("production-host").exists()

    reported = ci(
        service,
        ["report", "building", "--release-id", release_id, "--note", "build started"],
        **api_env(server),
    )
    assert reported.returncode == 0, reported.stderr
    assert reported.stdout.strip() == f"release {release_id} (hello v1.0.0): building"
    last = server.release(release_id)["events"][-1]
    assert (last["to_status"], last["actor"], last["note"]) == (
        "building",
        "gh:alice",
        "build started",
    )


UNREACHABLE = {
    "LOOM_RELEASE_TG_BOT_API_URL": "http://127.0.0.1:9/api/tg-bot",
    "LOOM_INTERSERVER_SECRET_KEY": SECRET,
}


@pytest.mark.parametrize(
    ("args", "env", "parts"),
    [
        (
            ["release-start", "--service", "hello", "--tag", "v1.0.0"],
            {"LOOM_INTERSERVER_SECRET_KEY": SECRET},
            ["LOOM_RELEASE_TG_BOT_API_URL (or RELMAN_API_URL) is not set"],
        ),
        (
            ["report", "deployed", "--release-id", "1"],
            {"LOOM_RELEASE_TG_BOT_API_URL": "http://127.0.0.1:9/api/tg-bot"},
            ["LOOM_INTERSERVER_SECRET_KEY (or RELMAN_SECRET_KEY) is not set"],
        ),
        (
            ["release-start", "--service", "hello", "--tag", "v1.0.0"],
            {**UNREACHABLE, "GITHUB_ACTOR": ""},
            ["GITHUB_ACTOR is not set"],
        ),
        (
            ["report", "manual_test_passed", "--release-id", "1"],
            {},
            ["'manual_test_passed' is not a status CI reports", "QA decides"],
        ),
        (
            [*DEPLOY, "--env", "dev:alice", "--release-id", "1"],
            UNREACHABLE,
            ["env: relman ci deploy takes stage or production", "relman ci dev-deploy"],
        ),
        (
            [
                "deploy",
                "--env",
                "stage",
                "--service",
                "nope",
                "--tag",
                "v1.0.0",
                "--release-id",
                "1",
            ],
            UNREACHABLE,
            ["service: unknown service 'nope' (known: hello)"],
        ),
        (
            ["dev-deploy", "--service", "hello", "--branch", "-x", "--author", "alice"],
            {},
            ["branch:"],
        ),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    service: ServiceRepo, args: list[str], env: dict[str, str], parts: list[str]
) -> None:
    assert_one_line_error(ci(service, args, **env), 2, *parts)
