"""``relman init github``: the GitHub Actions workflows of a service repository.

Seed 003 names three workflows (a push to a work branch → dev server; a ``v*`` tag →
stage and QA; QA's approval → production); seed 000 adds ``ci.yml`` with the quality
gates. The templates ship in the package (``templates/github/``, Jinja with ``[[ ]]`` /
``[% %]`` delimiters so GitHub's own ``${{ }}`` stays as it is) and are filled from the
service repository's ``relman.toml`` (issue 12):

* an environment whose ``executor`` is ``local`` is deployed by relman's worker, so its
  workflow only records the release (stage) or is not written at all (production: the
  local executor never dispatches it);
* a ``github`` environment — and every ``dev:<name>`` environment, since nothing but a push
  deploys those — is deployed by the runner: the job writes the hosts' SSH key and pinned
  known_hosts from secrets into the paths relman.toml names (0600, removed at the end) and
  passes the ``password_env`` variables from secrets of the same name;
* relman itself is installed from a pinned source (:func:`check_relman_spec`), written
  into the workflow — never a bare package name a stranger could register.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path

from relman.config import Environment, RelmanConfig, load_config
from relman.domain.errors import InvalidInput
from relman.versioning.errors import TargetExists

WORKFLOWS_DIR = ".github/workflows"

TAG_WORKFLOW = "on-create-version-tag.yaml"
APPROVE_WORKFLOW = "on-approve-manual-testing.yaml"
WORK_BRANCH_WORKFLOW = "on-push-in-work-branch.yaml"
CI_WORKFLOW = "ci.yml"

#: Template file → the path it is written to, relative to the repository root.
TEMPLATES = {
    WORK_BRANCH_WORKFLOW: f"{WORKFLOWS_DIR}/{WORK_BRANCH_WORKFLOW}",
    TAG_WORKFLOW: f"{WORKFLOWS_DIR}/{TAG_WORKFLOW}",
    APPROVE_WORKFLOW: f"{WORKFLOWS_DIR}/{APPROVE_WORKFLOW}",
    CI_WORKFLOW: f"{WORKFLOWS_DIR}/{CI_WORKFLOW}",
}

#: The workflows ``--check`` compares: relman's own. ``ci.yml`` is a starting point the
#: team adapts (its header says so), so a changed one is not drift.
CHECKED = (WORK_BRANCH_WORKFLOW, TAG_WORKFLOW, APPROVE_WORKFLOW)

#: What every relman workflow reads (besides the per-environment SSH settings).
API_VARIABLES = ("LOOM_RELEASE_TG_BOT_API_URL",)
API_SECRETS = ("LOOM_INTERSERVER_SECRET_KEY",)
#: Optional: with it set, relman ci authenticates with the job's OIDC token instead.
OPTIONAL_VARIABLES = ("RELMAN_OIDC_AUDIENCE",)

# The name lands unquoted in YAML and in env values read by shell steps; this set is safe
# in both and covers docker compose service names.
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

# A URL as it may stand in a double-quoted shell word and a YAML plain scalar: no space,
# quote, backslash, backtick or ``$`` (so neither the shell nor GitHub expands anything).
_URL = r"[A-Za-z0-9._~:/?%&=+,;@!*()\[\]-]+"
#: ``relman @ git+<url>@<40-hex commit | version tag>`` (pip's VCS form, issue 12 item 1).
_VCS_SPEC = re.compile(
    rf"relman @ git\+(?P<url>(?:https|ssh|file)://{_URL}?)"
    r"@(?P<ref>[0-9a-f]{40}|v?\d+(?:\.\d+)*(?:[-+.][A-Za-z0-9.]+)?)"
)
#: ``relman @ <https or file URL of a .whl>#sha256=<64 hex>``.
_WHEEL_SPEC = re.compile(rf"relman @ (?P<url>(?:https|file)://{_URL}?\.whl)#sha256=[0-9a-f]{{64}}")
ACCEPTED_SPECS = (
    "'relman @ git+https://…/relman@<40-hex commit or version tag>' or "
    "'relman @ https://…/relman-X.whl#sha256=<64 hex>' (file:// URLs too)"
)

# A path written into a single-quoted shell word and a YAML plain scalar.
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/~+@%:,=-]+")
_SECRET_SUFFIX = re.compile(r"[^A-Z0-9]+")


def check_relman_spec(spec: str) -> str:
    """``spec`` when it is a pinned pip requirement for relman, else :class:`InvalidInput`.

    Accepted (issue 12 item 1: a source the team controls, verifiable, never a bare name):
    a VCS URL at a 40-hex commit or a version tag, or a wheel URL with its sha256. Raises
    :class:`InvalidInput` (field ``relman_spec``) naming both forms for anything else.
    """
    spec = spec.strip()
    if _VCS_SPEC.fullmatch(spec) or _WHEEL_SPEC.fullmatch(spec):
        return spec
    raise InvalidInput(
        "relman_spec", f"{spec!r} is not a pinned source of relman; use {ACCEPTED_SPECS}"
    )


def default_relman_spec() -> str:
    """The running relman at its own version, from its source repository: ``relman @
    git+<Source URL>@v<version>`` (pyproject's ``[project.urls] Source`` or
    ``Repository``, read from the installed metadata).

    Raises :class:`InvalidInput` (``relman_spec``) when the metadata names no source.
    """
    from relman import __version__

    try:
        urls = metadata.metadata("relman").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("source", "repository") and url.strip():
            source = url.strip().removesuffix("/")
            return check_relman_spec(f"relman @ git+{source}@v{__version__}")
    raise InvalidInput(
        "relman_spec",
        f"this relman's metadata names no Source repository; give --relman-spec ({ACCEPTED_SPECS})",
    )


# --- what relman.toml asks of each workflow ------------------------------------------------


@dataclass(frozen=True)
class SshFile:
    """A file a deploying job writes from a secret: the key or the known_hosts of hosts."""

    secret: str
    path: str
    what: str  # "SSH key" | "known_hosts"


@dataclass
class RunnerDeploy:
    """What a job needs to deploy ``environments`` from the runner."""

    environments: list[str]
    files: list[SshFile] = field(default_factory=list)
    #: ``password_env`` names of the hosts: secrets of the same name, passed as variables.
    passwords: list[str] = field(default_factory=list)

    @property
    def secrets(self) -> list[str]:
        return [f.secret for f in self.files] + self.passwords


@dataclass
class WorkflowPlan:
    """The workflows relman.toml calls for (``None``: that environment is not deployed by
    a runner), the pinned install source, and what to tell the person."""

    service: str
    relman_spec: str
    config_path: Path
    stage: RunnerDeploy | None = None
    production: RunnerDeploy | None = None
    dev: RunnerDeploy | None = None
    #: template name → why it is not written
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def secrets(self) -> list[str]:
        """Every repository (or GitHub environment) secret the written workflows read."""
        names = list(API_SECRETS)
        for deploy in (self.stage, self.production, self.dev):
            names += deploy.secrets if deploy else []
        return list(dict.fromkeys(names))

    def variables(self) -> list[str]:
        return list(API_VARIABLES)


def plan_workflows(
    config: RelmanConfig, service: str, relman_spec: str, config_path: Path
) -> WorkflowPlan:
    """Decide the workflows for ``service`` from ``config`` (see the module doc).

    Raises :class:`InvalidInput`: ``service`` (a bad name, or one relman.toml does not
    know while it configures others), ``relman_spec`` (not pinned), ``hosts.<h>.<key>``
    (a path a shell step cannot write safely).
    """
    if not _SERVICE_NAME.match(service):
        raise InvalidInput(
            "service",
            f"{service!r} is not a valid service name (letters, "
            "digits, '.', '_', '-'; starting with a letter or digit)",
        )
    plan = WorkflowPlan(service, check_relman_spec(relman_spec), config_path)
    if config.services and service not in config.services:
        known = ", ".join(sorted(config.services))
        raise InvalidInput(
            "service", f"unknown service {service!r} in {config_path} (known: {known})"
        )
    if not config.services:
        plan.warnings.append(
            f"{config_path} configures no services: the workflows are written for "
            'executor = "local" (relman\'s worker deploys) until it does'
        )
    stage = config.environments.get("stage")
    if stage is None:
        plan.warnings.append(
            f"{config_path} has no [environments.stage]: the tag workflow only records the release"
        )
    elif stage.executor == "github":
        plan.stage = _runner_deploy(config, {"stage": stage}, plan.warnings)
    production = config.environments.get("production")
    if production is not None and production.executor == "github":
        plan.production = _runner_deploy(config, {"production": production}, plan.warnings)
    else:
        why = (
            f"{config_path} has no [environments.production]"
            if production is None
            else "production's executor is local: relman's worker deploys production"
        )
        plan.skipped[APPROVE_WORKFLOW] = f"{why}, and nothing dispatches this workflow"
    developers = {n: e for n, e in config.environments.items() if n.startswith("dev:")}
    if developers:
        plan.dev = _runner_deploy(config, developers, plan.warnings)
    else:
        plan.skipped[WORK_BRANCH_WORKFLOW] = (
            f"{config_path} has no dev:<name> environment, so a push deploys nowhere"
        )
    return plan


def _runner_deploy(
    config: RelmanConfig, environments: dict[str, Environment], warnings: list[str]
) -> RunnerDeploy:
    """The SSH files and password variables of the hosts of ``environments``.

    One key path (or known_hosts path) for all of them reads the secret ``RELMAN_SSH_KEY``
    (``RELMAN_KNOWN_HOSTS``) — GitHub environment secrets can still differ between stage
    and production; several paths get ``RELMAN_SSH_KEY_<HOST>`` after the first host that
    names each.
    """
    deploy = RunnerDeploy(list(environments))
    hosts = list(dict.fromkeys(h for env in environments.values() for h in env.hosts))
    keys: dict[str, str] = {}
    pins: dict[str, str] = {}
    for name in hosts:
        host = config.hosts[name]
        if host.transport != "ssh":
            continue
        if host.key_file is not None:
            keys.setdefault(_shell_path(name, "key_file", host.key_file, warnings), name)
        if host.known_hosts is not None:
            pins.setdefault(_shell_path(name, "known_hosts", host.known_hosts, warnings), name)
        if host.password_env is not None:
            deploy.passwords.append(host.password_env)
        if host.key_file is None and host.password is None and host.password_env is None:
            warnings.append(
                f"host {name} has no key_file or password_env: a runner has no SSH key "
                "for it (set key_file and the secret the workflow names)"
            )
    deploy.files += _files(keys, "RELMAN_SSH_KEY", "SSH key")
    deploy.files += _files(pins, "RELMAN_KNOWN_HOSTS", "known_hosts")
    deploy.passwords = list(dict.fromkeys(deploy.passwords))
    return deploy


def _files(paths: dict[str, str], base: str, what: str) -> list[SshFile]:
    if len(paths) == 1:
        return [SshFile(base, next(iter(paths)), what)]
    return [
        SshFile(f"{base}_{_SECRET_SUFFIX.sub('_', host.upper()).strip('_')}", path, what)
        for path, host in paths.items()
    ]


def _shell_path(host: str, key: str, path: Path, warnings: list[str]) -> str:
    text = str(path)
    if not _SAFE_PATH.fullmatch(text) or ".." in path.parts:
        raise InvalidInput(
            f"hosts.{host}.{key}",
            f"{text!r}: the workflow writes this file, so it must be letters, digits and "
            "._/~+@%:,=- without '..'",
        )
    if path.is_absolute():
        warnings.append(
            f"hosts.{host}.{key} is absolute ({text}): the job writes it there, so the "
            "runner's user must be allowed to; a path relative to the repository root "
            "(e.g. .relman/ssh/key) needs nothing"
        )
    return text


# --- rendering -----------------------------------------------------------------------------


def render_plan(plan: WorkflowPlan) -> dict[str, str]:
    """The workflow files of ``plan``: relative path → YAML text (skipped ones left out)."""
    import jinja2

    folder = resources.files("relman.versioning").joinpath("templates", "github")

    def load(name: str) -> str:
        return folder.joinpath(name).read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, not HTML  # noqa: S701
    )
    return {
        target: _tidy(env.get_template(name).render(plan=plan))
        for name, target in TEMPLATES.items()
        if name not in plan.skipped
    }


def _tidy(text: str) -> str:
    """The optional parts of the templates leave blank lines; keep one between steps and
    none inside a step (a line indented past a step's ``- ``), none at the end."""
    lines = text.splitlines()
    kept: list[str] = []
    for number, line in enumerate(lines):
        if not line.strip():
            following = next((x for x in lines[number + 1 :] if x.strip()), None)
            if following is None or not kept or not kept[-1].strip():
                continue
            inside = following.startswith(" " * 6)
            if inside and not following.lstrip().startswith(("- ", "#")):
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def render_workflows(
    service: str, *, relman_spec: str | None = None, config: RelmanConfig | None = None
) -> dict[str, str]:
    """The workflow files for ``service`` under ``config`` (default: an empty relman.toml,
    i.e. local executors): relative path → YAML text. Raises like :func:`plan_workflows`."""
    spec = relman_spec if relman_spec is not None else default_relman_spec()
    plan = plan_workflows(config or RelmanConfig(), service, spec, Path("relman.toml"))
    return render_plan(plan)


@dataclass
class InitResult:
    """What ``init github`` did: the files written, and the plan (skipped workflows,
    secrets, variables, warnings) to print."""

    written: list[Path]
    plan: WorkflowPlan
    #: Files left from an earlier run that the plan no longer writes (relative paths).
    stale: list[str] = field(default_factory=list)


def load_plan(
    path: Path,
    service: str | None = None,
    relman_spec: str | None = None,
    config: Path | None = None,
) -> tuple[Path, WorkflowPlan]:
    """The repository root and the plan for it: relman.toml from ``config`` (default:
    ``<path>/relman.toml``, the file the runner's checkout reads), ``service`` defaulting to
    relman.toml's only service, else the directory's name, ``relman_spec`` to
    :func:`default_relman_spec`.

    Raises :class:`InvalidInput` (``path`` not a directory, and as
    :func:`plan_workflows`), :class:`~relman.domain.errors.ConfigError` for a bad file.
    """
    if not path.is_dir():
        raise InvalidInput("path", f"{path} is not a directory")
    root = path.resolve()
    config_path = config if config is not None else root / "relman.toml"
    if config is not None and not config.is_file():
        raise InvalidInput("config", f"{config} is not a file")
    loaded = load_config(config_path)
    spec = relman_spec if relman_spec is not None else default_relman_spec()
    if service is None:
        # The repository of one service usually configures only that one.
        service = next(iter(loaded.services)) if len(loaded.services) == 1 else root.name
    plan = plan_workflows(loaded, service, spec, config_path)
    if not config_path.exists():
        plan.warnings.insert(
            0,
            f"no {config_path}: the workflows are written for relman.toml's defaults "
            '(executor = "local" everywhere)',
        )
    return root, plan


def init_github(
    path: Path,
    service: str | None = None,
    force: bool = False,
    *,
    relman_spec: str | None = None,
    config: Path | None = None,
) -> InitResult:
    """Write the workflows into the repository at ``path`` (see :func:`load_plan`).

    Without ``force`` nothing is written if any target exists (:class:`TargetExists`
    lists them); with it they are overwritten. Raises :class:`InvalidInput` as
    :func:`load_plan`, or when a file cannot be written (e.g. ``.github`` is a file).
    """
    root, plan = load_plan(path, service, relman_spec, config)
    targets = {root / relative: text for relative, text in render_plan(plan).items()}
    existing = [target for target in targets if target.exists()]
    if existing and not force:
        shown = ", ".join(str(target.relative_to(root)) for target in existing)
        raise TargetExists(f"{shown} already exist(s); use --force to overwrite")
    written = []
    for target, text in targets.items():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                "path", f"cannot write {exc.filename or target}: {exc.strerror or exc}"
            ) from None
        written.append(target)
    stale = [TEMPLATES[n] for n in plan.skipped if (root / TEMPLATES[n]).exists()]
    return InitResult(written, plan, stale)


@dataclass(frozen=True)
class Drift:
    """One workflow that is not what ``init github`` would write: ``state`` is
    ``missing``, ``differs`` (``detail``: ``+A -R lines``) or ``unexpected`` (committed,
    but relman.toml no longer calls for it; ``detail`` says why)."""

    path: str
    state: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.state}: {self.path}" + (f" ({self.detail})" if self.detail else "")


def check_workflows(
    path: Path,
    service: str | None = None,
    *,
    relman_spec: str | None = None,
    config: Path | None = None,
) -> tuple[WorkflowPlan, list[Drift]]:
    """Compare the committed workflows (:data:`CHECKED`) with what :func:`init_github`
    would write; an empty list means they are equal. Raises like :func:`load_plan`."""
    root, plan = load_plan(path, service, relman_spec, config)
    wanted = render_plan(plan)
    drift: list[Drift] = []
    for name in CHECKED:
        relative = TEMPLATES[name]
        target = root / relative
        if name in plan.skipped:
            if target.exists():
                drift.append(Drift(relative, "unexpected", plan.skipped[name]))
            continue
        if not target.is_file():
            drift.append(Drift(relative, "missing"))
            continue
        have = target.read_text(encoding="utf-8", errors="replace")
        if have != wanted[relative]:
            drift.append(Drift(relative, "differs", _diff_summary(have, wanted[relative])))
    return plan, drift


def _diff_summary(have: str, wanted: str) -> str:
    added = removed = 0
    for line in _changed(have.splitlines(), wanted.splitlines()):
        if line.startswith("+"):
            added += 1
        else:
            removed += 1
    return f"init github --force would add {added} and remove {removed} line(s)"


def _changed(have: list[str], wanted: list[str]) -> Iterable[str]:
    for line in difflib.unified_diff(have, wanted, lineterm="", n=0):
        if line.startswith(("+++", "---", "@@")):
            continue
        yield line
