"""A GitHub Actions runner of our own for the tests: plays one job of a workflow file step by
step, as GitHub's hosted runner does, on this machine.

What it does like GitHub (docs: "Workflow syntax", "Evaluate expressions", "Workflow
commands"):

* a fresh runner per :func:`play`: an empty workspace (``GITHUB_WORKSPACE``), ``RUNNER_TEMP``
  and ``HOME``; GitHub's default variables (``CI``, ``GITHUB_ACTIONS``, ``GITHUB_RUN_ID``,
  ``GITHUB_REF`` …) from :class:`Run`;
* ``env:`` merged workflow → job → step, each value with its ``${{ … }}`` filled in; the
  ``run:`` script filled in too, then run by ``bash --noprofile --norc -eo pipefail {0}``
  (GitHub's ``bash`` shell) in the workspace;
* ``${{ … }}`` expressions: the contexts ``github``, ``inputs``, ``vars``, ``secrets``
  (unset ones are ``''``), ``env``, ``steps.<id>.outputs.<name>`` / ``.outcome``; string,
  number and boolean literals; ``!``, ``==``, ``!=`` (strings compared case-insensitively),
  ``&&``, ``||`` (which return an operand, as GitHub's do), parentheses; ``success()``,
  ``failure()``, ``always()``, ``cancelled()``; an ``if:`` without a status function means
  ``success() && (…)``;
* ``GITHUB_ENV``, ``GITHUB_OUTPUT`` (``k=v`` and ``k<<EOF`` forms) and ``GITHUB_PATH``
  files per step;
* actions, emulated: ``actions/checkout`` clones :attr:`Run.repository_url` at ``with.ref``
  (else the run's ref) with the commit detached; ``actions/setup-python`` puts a Python
  venv's ``bin`` first on PATH (a :class:`RunnerPython`, fresh per test session) with pip
  pointed at a local wheelhouse only; ``actions/upload-artifact`` copies ``with.path`` into
  the run's artifacts folder and sets ``artifact-id`` / ``artifact-url``. Any other
  ``uses:``, an unknown key or an expression form outside the above fails the play loudly
  (:class:`PlayerError`) instead of being skipped.

What it does not: several jobs, ``needs``, matrices, services, ``continue-on-error``
semantics beyond the step's outcome, masking of secrets in logs (tests assert that no
secret is printed instead).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 300.0  # seconds one step may take (a deploy included)

_STEP_KEYS = {"name", "id", "if", "run", "env", "uses", "with", "shell", "working-directory"}
_JOB_KEYS = {
    "name",
    "runs-on",
    "timeout-minutes",
    "environment",
    "env",
    "steps",
    "permissions",
    "concurrency",
}


class PlayerError(AssertionError):
    """The workflow uses something this player does not emulate (or is malformed)."""


# --- relman's wheel and the runner's Python -------------------------------------------------


@dataclass(frozen=True)
class Wheel:
    path: Path
    sha256: str

    @property
    def spec(self) -> str:
        """The pinned requirement ``relman init github --relman-spec`` takes."""
        return f"relman @ {self.path.as_uri()}#sha256={self.sha256}"


def build_relman_wheel(folder: Path) -> Wheel:
    """relman's wheel built from this checkout (``pip wheel --no-deps``)."""
    folder.mkdir(parents=True, exist_ok=True)
    _pip(["wheel", "--no-deps", "-q", "-w", str(folder), str(REPO_ROOT)], timeout=300)
    (path,) = folder.glob("relman-*.whl")
    return Wheel(path, hashlib.sha256(path.read_bytes()).hexdigest())


def runtime_requirements() -> list[str]:
    """``name==version`` of relman's runtime dependencies (transitively, with the extras
    asked for and markers evaluated) as installed in this virtualenv, and pip's: what the
    runner needs, at the versions tested."""
    from packaging.requirements import Requirement

    pins: dict[str, str] = {"pip": metadata.version("pip")}
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[str, frozenset[str]]] = [("relman", frozenset())]
    while todo:
        name, extras = todo.pop()
        for text in metadata.distribution(name).requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in ("", *extras)
            ):
                continue
            key = re.sub(r"[-_.]+", "-", requirement.name).lower()
            pins[key] = metadata.version(requirement.name)
            for extra in ("", *sorted(requirement.extras)):
                if (key, extra) not in seen:
                    seen.add((key, extra))
                    todo.append((requirement.name, frozenset({extra} - {""})))
    return sorted(f"{name}=={version}" for name, version in pins.items())


def wheelhouse(cache: Path) -> Path:
    """A folder of wheels of :func:`runtime_requirements`, downloaded once per set of
    versions (``cache/wheelhouse-<hash>``, reused across sessions)."""
    pins = runtime_requirements()
    folder = cache / f"wheelhouse-{hashlib.sha256(chr(10).join(pins).encode()).hexdigest()[:16]}"
    done = folder / ".complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _pip(["download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(folder), *pins])
        done.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return folder


def _pip(args: list[str], timeout: float = 600) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise PlayerError(f"pip {args[0]} failed: {done.stderr.strip()[-2000:]}")


@dataclass(frozen=True)
class RunnerPython:
    """The Python ``actions/setup-python`` provides: a venv without relman (the workflow's
    own install step installs it) whose pip sees only ``wheelhouse``."""

    root: Path
    wheelhouse: Path

    @classmethod
    def create(cls, root: Path, wheels: Path) -> RunnerPython:
        """A new venv at ``root`` with pip from ``wheels`` (quicker than ensurepip)."""
        venv.EnvBuilder(with_pip=False, clear=True).create(root)
        python = str(root / "bin" / "python")
        _pip(
            ["--python", python, "install", "-q", "--no-index", "--find-links", str(wheels), "pip"]
        )
        return cls(root, wheels)

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def pip_env(self) -> dict[str, str]:
        """The runner's pip configuration: offline, from the wheelhouse only."""
        return {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.wheelhouse),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1",
        }


# --- expressions -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!()])"
    r"|(?P<call>[A-Za-z_][\w-]*)\(\s*\)|(?P<path>[A-Za-z_][\w-]*(?:\.[A-Za-z_*][\w-]*)*))"
)
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)
_STATUS_CALLS = ("success", "failure", "always", "cancelled")


class _Expression:
    """A recursive-descent reader of the expression forms named in the module doc."""

    def __init__(self, text: str, lookup: Any, status: Mapping[str, bool]) -> None:
        self.text = text
        self.lookup = lookup
        self.status = status
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if not text[position:].strip():
                break
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise PlayerError(f"expression {text!r}: cannot read {text[position:]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match[kind]))
            position = match.end()
        self.i = 0

    def value(self) -> Any:
        result = self._or()
        if self.i != len(self.tokens):
            raise PlayerError(f"expression {self.text!r}: unexpected {self.tokens[self.i][1]!r}")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self.i += 1
            right = self._and()
            left = left if truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == "&&":
            self.i += 1
            right = self._compare()
            left = right if truthy(left) else left
        return left

    def _compare(self) -> Any:
        left = self._unary()
        while self._peek() in ("==", "!="):
            op = self.tokens[self.i][1]
            self.i += 1
            right = self._unary()
            equal = _comparable(left) == _comparable(right)
            left = equal if op == "==" else not equal
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self.i += 1
            return not truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        if self.i >= len(self.tokens):
            raise PlayerError(f"expression {self.text!r}: ends early")
        kind, token = self.tokens[self.i]
        self.i += 1
        if token == "(":
            inner = self._or()
            if self._peek() != ")":
                raise PlayerError(f"expression {self.text!r}: missing ')'")
            self.i += 1
            return inner
        if kind == "str":
            return token[1:-1].replace("''", "'")
        if kind == "num":
            return float(token)
        if kind == "call":
            if token not in _STATUS_CALLS:
                raise PlayerError(f"expression {self.text!r}: function {token}() not emulated")
            return self.status[token]
        if kind == "path":
            if token in ("true", "false"):
                return token == "true"
            if token == "null":
                return None
            return self.lookup(token)
        raise PlayerError(f"expression {self.text!r}: unexpected {token!r}")


def truthy(value: Any) -> bool:
    """GitHub's truthiness: ``''``, ``0``, ``false`` and ``null`` are false."""
    return value not in ("", 0, False, None)


def _comparable(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


# --- a run and its outcome ----------------------------------------------------------------


@dataclass
class Run:
    """What GitHub knows about a run: the event, the ref, the actor, the repository (and
    the URL ``actions/checkout`` clones), the run id, and the repository's settings."""

    repository_url: str
    ref: str  # refs/tags/v1.0.0, refs/heads/main
    run_id: str
    actor: str = "alice"
    event: str = "push"
    repository: str = "org/hello"
    inputs: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def ref_name(self) -> str:
        return self.ref.split("/", 2)[2] if self.ref.startswith("refs/") else self.ref

    def github(self, workspace: Path) -> dict[str, str]:
        """The ``github`` context (the keys the player knows)."""
        return {
            "repository": self.repository,
            "repository_owner": self.repository.split("/")[0],
            "ref": self.ref,
            "ref_name": self.ref_name,
            "ref_type": "tag" if self.ref.startswith("refs/tags/") else "branch",
            "actor": self.actor,
            "triggering_actor": self.actor,
            "event_name": self.event,
            "run_id": self.run_id,
            "run_attempt": "1",
            "server_url": "https://github.com",
            "workspace": str(workspace),
        }

    def variables(self, workspace: Path) -> dict[str, str]:
        """GitHub's default environment variables (``GITHUB_*``, ``CI``, ``RUNNER_*``)."""
        context = self.github(workspace)
        env = {f"GITHUB_{key.upper()}": value for key, value in context.items()}
        env.update({"CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_OS": "Linux"})
        return env


@dataclass
class StepRun:
    """One step: ``outcome`` is success, failure or skipped."""

    name: str
    id: str
    outcome: str
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Played:
    steps: list[StepRun]
    outputs: dict[str, dict[str, str]]  # step id → outputs
    workspace: Path
    artifacts: Path

    @property
    def ok(self) -> bool:
        return all(step.outcome != "failure" for step in self.steps)

    def outcomes(self) -> list[tuple[str, str]]:
        return [(s.name, s.outcome) for s in self.steps]

    def step(self, name: str) -> StepRun:
        (found,) = [s for s in self.steps if s.name == name]
        return found

    def log(self) -> str:
        """Every step's outcome and output, for assertion messages."""
        return "\n".join(f"--- {s.name}: {s.outcome}\n{s.output}" for s in self.steps)


# --- playing ---------------------------------------------------------------------------------


def load_workflow(path: Path) -> dict[Any, Any]:
    """The workflow file as data (YAML 1.1 reads the key ``on`` as ``True``: put back)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "jobs" not in document:
        raise PlayerError(f"{path}: not a workflow")
    if True in document:
        document["on"] = document.pop(True)
    return document


def play(
    workflow: Path,
    run: Run,
    *,
    runner: Path,
    python: RunnerPython,
    base_env: Mapping[str, str] | None = None,
) -> Played:
    """Play the (single) job of ``workflow`` for ``run`` on a fresh runner in the new
    folder ``runner``. ``base_env`` is the machine's environment the runner starts from
    (default: this process's, without RELMAN_*/LOOM_* and DATABASE_URL settings)."""
    document = load_workflow(workflow)
    jobs = document["jobs"]
    if len(jobs) != 1:
        raise PlayerError(f"{workflow.name}: {len(jobs)} jobs; the player plays one")
    (job,) = jobs.values()
    unknown = set(job) - _JOB_KEYS
    if unknown:
        raise PlayerError(f"{workflow.name}: job keys not emulated: {sorted(unknown)}")
    _check_inputs(workflow.name, document["on"], run)

    workspace, temp, home, artifacts = (runner / n for n in ("work", "temp", "home", "artifacts"))
    for folder in (workspace, temp, home, artifacts):
        folder.mkdir(parents=True)
    machine = dict(base_env if base_env is not None else _machine_env())
    machine.update(run.variables(workspace))
    machine.update({"GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp)})
    machine["HOME"] = str(home)
    paths: list[str] = []
    job_env: dict[str, str] = {}
    outputs: dict[str, dict[str, str]] = {}
    outcomes: dict[str, str] = {}
    state = {"failed": False}

    def lookup(name: str) -> Any:
        head, _, rest = name.partition(".")
        if head == "github":
            context = run.github(workspace)
            if rest not in context:
                raise PlayerError(f"github.{rest} is not emulated")
            return context[rest]
        if head in ("inputs", "vars", "secrets"):
            values: dict[str, str] = getattr(run, head)
            return values.get(rest, "")
        if head == "env":
            return {**job_env, **env_file}.get(rest, "")
        if head == "steps":
            step_id, _, what = rest.partition(".")
            if what.startswith("outputs."):
                return outputs.get(step_id, {}).get(what.removeprefix("outputs."), "")
            if what in ("outcome", "conclusion"):
                return outcomes.get(step_id, "")
        raise PlayerError(f"context {name!r} is not emulated")

    def evaluate(text: str) -> Any:
        status = {
            "success": not state["failed"],
            "failure": state["failed"],
            "always": True,
            "cancelled": False,
        }
        return _Expression(text, lookup, status).value()

    def fill(value: Any) -> str:
        text = _text(value)
        return _EXPRESSION.sub(lambda m: _text(evaluate(m[1])), text)

    def condition(text: Any) -> bool:
        if text is None:
            return not state["failed"]
        raw = str(text).strip()
        whole = _EXPRESSION.fullmatch(raw)
        inner = whole[1] if whole else raw
        if not any(re.search(rf"\b{call}\(\s*\)", inner) for call in _STATUS_CALLS):
            inner = f"success() && ({inner})"
        return truthy(evaluate(inner))

    env_file: dict[str, str] = {}
    for key, value in (document.get("env") or {}).items():
        job_env[key] = fill(value)
    for key, value in (job.get("env") or {}).items():
        job_env[key] = fill(value)

    played: list[StepRun] = []
    for number, step in enumerate(job["steps"]):
        unknown = set(step) - _STEP_KEYS
        if unknown:
            raise PlayerError(f"step {number} keys not emulated: {sorted(unknown)}")
        name = str(step.get("name") or step.get("uses") or step.get("run", "")[:40])
        step_id = str(step.get("id") or f"__step{number}")
        if not condition(step.get("if")):
            played.append(StepRun(name, step_id, "skipped"))
            outcomes[step_id] = "skipped"
            continue
        files = {k: temp / f"{k.lower()}-{number}" for k in ("GITHUB_OUTPUT", "GITHUB_ENV")}
        files["GITHUB_PATH"] = temp / f"github_path-{number}"
        for file in files.values():
            file.write_text("", encoding="utf-8")
        env = {**machine, **job_env, **env_file}
        env.update({k: fill(v) for k, v in (step.get("env") or {}).items()})
        env.update({k: str(v) for k, v in files.items()})
        env["PATH"] = os.pathsep.join([*reversed(paths), machine["PATH"]])
        if "uses" in step:
            with_ = {k: fill(v) for k, v in (step.get("with") or {}).items()}
            result = _action(str(step["uses"]), with_, run, workspace, artifacts, python, env)
        else:
            if step.get("shell", "bash") != "bash":
                raise PlayerError(f"step {name!r}: shell {step['shell']!r} not emulated")
            script = temp / f"step-{number}.sh"
            script.write_text(fill(step["run"]), encoding="utf-8")
            cwd = workspace / fill(step.get("working-directory", "."))
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=STEP_TIMEOUT,
            )
            result = _Result(done.returncode, done.stdout, done.stderr, {}, [])
        produced = {**_read_pairs(files["GITHUB_OUTPUT"]), **result.outputs}
        outputs[step_id] = produced
        env_file.update(_read_pairs(files["GITHUB_ENV"]))
        paths += [
            line.strip()
            for line in files["GITHUB_PATH"].read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        paths += result.paths
        outcome = "success" if result.returncode == 0 else "failure"
        state["failed"] = state["failed"] or outcome == "failure"
        outcomes[step_id] = outcome
        played.append(
            StepRun(name, step_id, outcome, result.stdout, result.stderr, result.returncode)
        )
    return Played(played, outputs, workspace, artifacts)


def _check_inputs(name: str, on: Any, run: Run) -> None:
    """A dispatch must give every required input and no undeclared one (GitHub: 422)."""
    if run.event != "workflow_dispatch":
        return
    declared = ((on or {}).get("workflow_dispatch") or {}).get("inputs") or {}
    extra = set(run.inputs) - set(declared)
    if extra:
        raise PlayerError(f"{name}: undeclared inputs {sorted(extra)}")
    for key, spec in declared.items():
        if key not in run.inputs and spec.get("default") is not None:
            run.inputs[key] = str(spec["default"])
        if spec.get("required") and not run.inputs.get(key):
            raise PlayerError(f"{name}: required input {key!r} missing")


def _machine_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELMAN_", "LOOM_", "GITHUB_", "PIP_", "VIRTUAL_ENV"))
        and k != "DATABASE_URL"
    }


def _read_pairs(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIMITER`` … ``DELIMITER`` blocks."""
    pairs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, _, delimiter = line.partition("<<")
            body: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise PlayerError(f"{path.name}: {key} has no closing {delimiter}")
            i += 1
            pairs[key] = "\n".join(body)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise PlayerError(f"{path.name}: not name=value: {line!r}")
        pairs[key] = value
    return pairs


@dataclass
class _Result:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    paths: list[str]


def _action(
    uses: str,
    with_: dict[str, str],
    run: Run,
    workspace: Path,
    artifacts: Path,
    python: RunnerPython,
    env: Mapping[str, str],
) -> _Result:
    action, _, version = uses.partition("@")
    if action == "actions/checkout" and version == "v4":
        _only(uses, with_, {"ref", "persist-credentials", "fetch-depth"})
        return _checkout(with_.get("ref") or run.ref, run, workspace, env)
    if action == "actions/setup-python" and version == "v5":
        _only(uses, with_, {"python-version"})
        # GitHub's hosted runner sets pip up from PyPI; here pip sees the wheelhouse only.
        return _Result(0, f"Python from {python.root}\n", "", {}, [str(python.bin)])
    if action == "actions/upload-artifact" and version == "v4":
        _only(uses, with_, {"name", "path", "if-no-files-found", "retention-days"})
        return _upload(with_, run, workspace, artifacts)
    raise PlayerError(f"uses: {uses} is not emulated by the workflow player")


def _only(uses: str, with_: Mapping[str, str], known: set[str]) -> None:
    unknown = set(with_) - known
    if unknown:
        raise PlayerError(f"{uses}: with: {sorted(unknown)} not emulated")


def _checkout(ref: str, run: Run, workspace: Path, env: Mapping[str, str]) -> _Result:
    git_env = {**env, "GIT_TERMINAL_PROMPT": "0"}

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], env=git_env, capture_output=True, text=True, check=False, timeout=120
        )

    cloned = git("clone", "-q", "--no-checkout", run.repository_url, str(workspace))
    if cloned.returncode != 0:
        return _Result(1, "", cloned.stderr, {}, [])
    name = ref.split("/", 2)[2] if ref.startswith("refs/") else ref
    target = f"origin/{name}" if ref.startswith("refs/heads/") else name
    if (
        not ref.startswith("refs/")
        and git("-C", str(workspace), "rev-parse", "-q", "--verify", f"origin/{ref}").returncode
        == 0
    ):
        target = f"origin/{ref}"
    checked = git("-C", str(workspace), "checkout", "-q", "--detach", target)
    if checked.returncode != 0:
        return _Result(1, "", checked.stderr, {}, [])
    return _Result(0, f"checked out {ref}\n", "", {}, [])


def _upload(with_: Mapping[str, str], run: Run, workspace: Path, artifacts: Path) -> _Result:
    name = with_["name"]
    sources = [line.strip() for line in with_.get("path", "").splitlines() if line.strip()]
    found = [workspace / s for s in sources if (workspace / s).exists()]
    if not found:
        message = f"No files were found with the provided path: {', '.join(sources)}"
        if with_.get("if-no-files-found", "warn") == "error":
            return _Result(1, "", f"::error::{message}\n", {}, [])
        return _Result(0, f"::warning::{message}. No artifacts will be uploaded.\n", "", {}, [])
    target = artifacts / name
    if target.exists():
        return _Result(1, "", f"::error::an artifact named {name} exists already\n", {}, [])
    target.mkdir(parents=True)
    for source in found:
        if source.is_dir():
            shutil.copytree(source, target / source.name)
        else:
            shutil.copy2(source, target / source.name)
    number = str(len(list(artifacts.iterdir())))
    url = f"https://github.com/{run.repository}/actions/runs/{run.run_id}/artifacts/{number}"
    return _Result(0, f"uploaded {name}\n", "", {"artifact-id": number, "artifact-url": url}, [])
