"""Deploy steps as data: pure functions that build argv lists (DESIGN.md §3, §4).

Nothing here runs anything; :mod:`relman.deploy.runner` executes a :class:`Step` through a
transport and :mod:`relman.deploy.engine` decides which steps to run. The order follows
seed 003 ("Пример лога деплоя") and seed 001 (preflight, backup, migrate, deploy, smoke):

lock → probe → preflight (``git status --porcelain``, current tag and sha) → clone or
``git fetch origin --tags --force`` → tag exists? → backup (command, sha256, manifest,
verify) → ``git checkout --force`` the tag → clean old branches → migrate → build/restart
(compose or shell) → health → smoke → unlock.

A developer deploy of a branch (seed 003 "on-push-in-work-branch") fetches every branch as
well (``--prune``, so a deleted branch is gone), checks that ``origin/<branch>`` exists and
checks out that commit, detached; it takes no backup.

Commands that need redirection or a conditional use ``sh -c SCRIPT sh ARG…`` with a
constant script and the values as positional arguments, so no value is ever parsed by a
shell. Paths on the host are POSIX paths.

Round trips: :func:`join_steps` joins several steps into one such ``sh -c`` command (the
script only refers to ``"${N}"``; every value stays a positional argument), so a deploy
upgrade costs three remote executions per host (issue "Fast relman"): lock + env files +
probe + preflight + fetch + tag check (the last two guarded by :func:`has_checkout`);
backup … checkout + branch clean + migrate + restart; unlock. A first deploy clones in a
fourth. Marker lines carrying a per-run nonce separate the steps' outputs and exit
statuses.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from relman.config import Host, Service
from relman.deploy.log import RefType, safe_name
from relman.deploy.refs import docker_tag
from relman.domain.errors import InvalidInput

#: Exit status of the lock step when another deploy holds the lock (EX_TEMPFAIL).
LOCK_HELD_STATUS = 75
#: Exit status of the backup digest step when the dump is missing or empty.
DUMP_MISSING_STATUS = 3
#: Name of the dump file inside a backup folder (seed 001: "manifest.json + db.dump + sha256").
DUMP_NAME = "db.dump"
#: Lines of the service's own log captured when a deploy fails.
SERVICE_LOG_LINES = 50
#: Variables for every git command: never wait for a password prompt.
GIT_ENV: Mapping[str, str] = {"GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class Step:
    """One command of a deploy.

    ``name`` names the evidence file (``step_<name>.log``) and the duration entry;
    ``timeout`` is in seconds (``None``: the host's ``command_timeout``); ``message`` is a
    seed-log line written before the step runs; ``check`` makes a non-zero exit fail the
    deploy; ``stream`` copies output lines into the deploy log; ``sensitive`` keeps the
    output out of every log (used to read env files). ``only_if`` (an argv, in a batch
    only) runs the step only when that command exits 0 on the host; else the step is
    skipped, as if it were not in the batch.
    """

    name: str
    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    message: str | None = None
    check: bool = True
    stream: bool = True
    sensitive: bool = False
    only_if: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A service on one host, with every template already rendered.

    ``workdir`` is the checkout; ``state_dir`` (next to it, ``.relman-<name>``) holds the
    lock and the backups, outside the checkout so ``git clone`` and ``git status`` never see
    them.
    """

    service_name: str
    service: Service
    host_name: str
    host: Host
    workdir: str
    state_dir: str
    lock_dir: str
    backups_dir: str
    env: Mapping[str, str]
    #: compose strategy: the project name passed as ``-p`` ("" for other strategies).
    compose_project: str = ""


def render(template: str, host: Host) -> str:
    """``template`` with ``{address}`` and ``{root}`` replaced by the host's values
    (config.py, :class:`~relman.config.Service`). Other braces are left alone."""
    return template.replace("{address}", host.address).replace("{root}", host.root.rstrip("/"))


def make_target(
    service_name: str, service: Service, host_name: str, host: Host, environment: str = ""
) -> Target:
    """Render a service's paths and variables for one host (pure).

    Raises :class:`~relman.domain.errors.InvalidInput` (field ``compose_project``) when a
    compose service's project name normalizes to nothing.
    """
    workdir = posixpath.normpath(render(service.workdir, host))
    parent, base = posixpath.split(workdir)
    state_dir = posixpath.join(parent or ".", f".relman-{base}")
    project = ""
    if service.strategy == "compose":
        project = compose_project_name(
            service.compose_project or "{service}-{environment}",
            service=service_name,
            environment=environment or "default",
            host_name=host_name,
            host=host,
        )
    return Target(
        service_name=service_name,
        service=service,
        host_name=host_name,
        host=host,
        workdir=workdir,
        state_dir=state_dir,
        lock_dir=posixpath.join(state_dir, "lock"),
        backups_dir=posixpath.join(state_dir, "backups"),
        env={key: render(value, host) for key, value in service.env.items()},
        compose_project=project,
    )


#: What ``docker compose -p`` accepts: lower case letters, digits, ``-`` and ``_``,
#: starting with a letter or digit (compose-spec "name").
_PROJECT_BAD = re.compile(r"[^a-z0-9_-]+")


def compose_project_name(
    template: str, *, service: str, environment: str, host_name: str, host: Host
) -> str:
    """The compose project name for ``template`` (pure): ``{service}``, ``{environment}``,
    ``{host}`` and ``{address}`` filled in, lower-cased, every run of other characters
    (dots, colons, spaces) made one ``-``, leading ``-``/``_`` dropped. ``dev:alice`` →
    ``dev-alice``, ``shop-{address}`` → ``shop-127-0-0-2``.

    Raises :class:`~relman.domain.errors.InvalidInput` (field ``compose_project``) when
    nothing usable is left.
    """
    filled = (
        template.replace("{service}", service)
        .replace("{environment}", environment)
        .replace("{host}", host_name)
        .replace("{address}", host.address)
    )
    name = _PROJECT_BAD.sub("-", filled.lower()).lstrip("-_")
    if not name:
        raise InvalidInput(
            "compose_project",
            f"{template!r} gives no usable compose project name "
            "(letters, digits, '-' and '_' are kept)",
        )
    return name


def version_of(tag: str) -> str:
    """The version a tag names: the tag without its leading ``v`` (``v1.2.3`` → ``1.2.3``)."""
    return tag[1:] if tag.startswith("v") else tag


def service_env(
    target: Target, tag: str, *, ref_type: RefType = "tag", sha: str | None = None
) -> dict[str, str]:
    """Variables for the service's own commands (backup, migrate, start, compose).

    The service's configured ``env`` plus ``RELMAN_SERVICE``, ``RELMAN_TAG``,
    ``RELMAN_VERSION`` and ``IMAGE_TAG`` (the per-release image tag, DESIGN.md §4). For a
    branch (``tag`` is then the branch name): ``RELMAN_BRANCH`` and ``IMAGE_TAG`` =
    ``branch-<name>`` made a valid Docker tag, no ``RELMAN_TAG``/``RELMAN_VERSION``.
    ``RELMAN_SHA`` is the commit being deployed when ``sha`` is known.
    """
    env = dict(target.env)
    env["RELMAN_SERVICE"] = target.service_name
    if ref_type == "branch":
        env.update(RELMAN_BRANCH=tag, IMAGE_TAG=docker_tag(f"branch-{tag}"))
    else:
        env.update(RELMAN_TAG=tag, RELMAN_VERSION=version_of(tag), IMAGE_TAG=tag)
    if sha:
        env["RELMAN_SHA"] = sha
    return env


def _sh(
    name: str,
    script: str,
    *args: str,
    check: bool = True,
    stream: bool = True,
    timeout: float | None = None,
) -> Step:
    """A step running a constant POSIX ``sh`` script with ``args`` as ``$1``, ``$2``, …"""
    return Step(
        name=name,
        argv=("sh", "-c", script, "sh", *args),
        check=check,
        stream=stream,
        timeout=timeout,
    )


# --- lock ------------------------------------------------------------------------------

_LOCK_SCRIPT = (
    'mkdir -p -- "$(dirname -- "$1")" || exit 1\n'
    'if mkdir -- "$1" 2>/dev/null; then\n'
    '  printf \'%s\\n\' "$2" > "$1/details.json" || { rmdir -- "$1"; exit 1; }\n'
    '  echo "locked $1"\n'
    "else\n"
    '  echo "held $1"\n'
    '  cat -- "$1/details.json" 2>/dev/null\n'
    f"  exit {LOCK_HELD_STATUS}\n"
    "fi"
)

_UNLOCK_SCRIPT = (
    'if grep -q -F -- "$2" "$1/details.json" 2>/dev/null; then\n'
    '  rm -f -- "$1/details.json" && rmdir -- "$1" && echo "unlocked $1"\n'
    "else\n"
    '  echo "lock $1 is not held by this deploy; left alone"\n'
    "fi"
)

_LOCK_STATUS_SCRIPT = (
    'if [ -d "$1" ]; then echo held; cat -- "$1/details.json" 2>/dev/null; else echo free; fi'
)

_FORCE_UNLOCK_SCRIPT = 'rm -f -- "$1/details.json"; rmdir -- "$1" 2>/dev/null; [ ! -e "$1" ]'


def lock_details(
    *,
    deploy_id: str,
    actor: str,
    since: str,
    tag: str,
    reason: str,
    pid: int,
    machine: str,
    environment: str,
) -> str:
    """The lock's ``details.json`` (one line): who holds it, since when (ISO-8601 UTC), the
    tag, why, and the relman process (``pid`` on ``machine``) so a dead holder is noticed."""
    return json.dumps(
        {
            "deploy_id": deploy_id,
            "actor": actor,
            "since": since,
            "tag": tag,
            "reason": reason,
            "pid": pid,
            "machine": machine,
            "environment": environment,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def lock_step(target: Target, details: str) -> Step:
    """Take the host lock: an atomic ``mkdir`` of the lock folder, then ``details.json``.

    Exits :data:`LOCK_HELD_STATUS` and prints the holder's details when it is taken.
    """
    return _sh(
        "lock", _LOCK_SCRIPT, target.lock_dir, details, check=False, stream=False, timeout=30.0
    )


def unlock_step(target: Target, deploy_id: str) -> Step:
    """Free the lock, only if this deploy (``deploy_id``) holds it."""
    return _sh(
        "unlock",
        _UNLOCK_SCRIPT,
        target.lock_dir,
        deploy_id,
        check=False,
        stream=False,
        timeout=30.0,
    )


def lock_status_step(target: Target) -> Step:
    """Print ``free``, or ``held`` and the details (for :func:`relman.deploy.lock.lock_status`)."""
    return _sh("lock_status", _LOCK_STATUS_SCRIPT, target.lock_dir, timeout=30.0)


def force_unlock_step(target: Target) -> Step:
    """Remove the lock whoever holds it (an operator freeing a stale lock)."""
    return _sh("release_lock", _FORCE_UNLOCK_SCRIPT, target.lock_dir, timeout=30.0)


# --- preflight -------------------------------------------------------------------------

_PROBE_SCRIPT = (
    'if [ -e "$1/.git" ]; then echo git\n'
    'elif [ -d "$1" ] && [ -n "$(ls -A -- "$1")" ]; then echo files\n'
    "else echo none; fi"
)


def probe_step(target: Target) -> Step:
    """Print ``git`` (a checkout exists), ``files`` (folder without a checkout) or ``none``."""
    return _sh("probe", _PROBE_SCRIPT, target.workdir, stream=False, timeout=30.0)


def has_checkout(target: Target) -> tuple[str, ...]:
    """The test :func:`probe_step` answers ``git`` by, as an ``only_if`` argv: a step
    guarded by it runs in the probe's command only where a checkout exists."""
    return ("test", "-e", posixpath.join(target.workdir, ".git"))


def read_env_file_steps(target: Target) -> list[Step]:
    """Read the service's env files (relative to the workdir) so their secret values can be
    masked: one ``cat`` of them all, or no step without env files. The output is
    ``sensitive`` and never logged. Missing files are fine (unchecked)."""
    paths = [
        posixpath.join(target.workdir, render(p, target.host)) for p in target.service.env_files
    ]
    if not paths:
        return []
    return [
        Step(
            name="read_env_file",
            argv=("cat", "--", *paths),
            check=False,
            stream=False,
            sensitive=True,
            timeout=30.0,
        )
    ]


def preflight_steps(target: Target) -> list[Step]:
    """``git status --porcelain``, the exact tag at HEAD, the HEAD sha (seed 001 preflight).

    The last two may fail (no tag at HEAD, no commit yet); the engine reads their output.
    """
    workdir = target.workdir
    return [
        Step(
            "preflight_status",
            ("git", "status", "--porcelain"),
            cwd=workdir,
            env=GIT_ENV,
            timeout=60.0,
        ),
        Step(
            "preflight_version",
            ("git", "describe", "--tags", "--exact-match", "HEAD"),
            cwd=workdir,
            env=GIT_ENV,
            timeout=60.0,
            check=False,
            stream=False,
        ),
        Step(
            "preflight_sha",
            ("git", "rev-parse", "HEAD"),
            cwd=workdir,
            env=GIT_ENV,
            timeout=60.0,
            check=False,
            stream=False,
        ),
    ]


# --- fetch and tag ---------------------------------------------------------------------


def fetch_steps(target: Target, workdir_state: str, *, branches: bool = False) -> list[Step]:
    """Bring the checkout up to date with origin (seed 003: ``git fetch origin --tags --force``).

    ``workdir_state`` is :func:`probe_step`'s answer: ``none`` → ``git clone --no-checkout``
    (nothing is checked out until the tag is verified); ``files`` → ``git init`` and add
    origin (keeps files already there, e.g. an env file); ``git`` → fetch only.
    ``branches`` (a developer deploy) also fetches every branch into ``origin/*`` whatever
    the checkout's fetch configuration, and prunes the ones deleted on origin.
    """
    repo = target.service.repo
    workdir = target.workdir
    steps: list[Step] = []
    if workdir_state == "none":
        steps.append(
            Step("clone", ("git", "clone", "--no-checkout", "--", repo, workdir), env=GIT_ENV)
        )
    elif workdir_state == "files":
        steps.append(Step("init", ("git", "init", "-q", "--", workdir), env=GIT_ENV))
        steps.append(
            Step("remote", ("git", "remote", "add", "origin", repo), cwd=workdir, env=GIT_ENV)
        )
    argv: tuple[str, ...] = ("git", "fetch", "origin", "--tags", "--force")
    if branches:
        argv = (*argv, "--prune", "+refs/heads/*:refs/remotes/origin/*")
    steps.append(Step("fetch", argv, cwd=workdir, env=GIT_ENV))
    return steps


def verify_tag_step(target: Target, tag: str) -> Step:
    """Print the commit the tag points at; exits non-zero when the tag does not exist."""
    return _commit_of_step(target, "verify_tag", f"refs/tags/{tag}")


def verify_branch_step(target: Target, branch: str) -> Step:
    """Print the commit ``origin/<branch>`` points at; exits non-zero when there is none."""
    return _commit_of_step(target, "verify_branch", f"refs/remotes/origin/{branch}")


def _commit_of_step(target: Target, name: str, ref: str) -> Step:
    """``git rev-parse --verify --quiet REF^{commit}`` in the checkout (unchecked, quiet)."""
    return Step(
        name,
        ("git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"),
        cwd=target.workdir,
        env=GIT_ENV,
        check=False,
        stream=False,
        timeout=60.0,
    )


# --- backup and restore ----------------------------------------------------------------

_DIGEST_SCRIPT = (
    'cd -- "$1" || exit 1\n'
    'if [ ! -s "$2" ]; then\n'
    '  echo "dump $1/$2 is missing or empty"\n'
    f"  exit {DUMP_MISSING_STATUS}\n"
    "fi\n"
    'wc -c < "$2"\n'
    'sha256sum -- "$2" > SHA256SUMS || exit 1\n'
    "cat SHA256SUMS"
)

_WRITE_MANIFEST_SCRIPT = 'printf \'%s\\n\' "$2" > "$1/manifest.json"'


def backup_dir_for(target: Target, stamp: str, tag: str) -> str:
    """The folder of one backup on the host: ``<state_dir>/backups/<stamp>-<tag>`` (the tag
    made one path component)."""
    return posixpath.join(target.backups_dir, f"{stamp}-{safe_name(tag)}")


def _rendered(target: Target, argv: Sequence[str]) -> tuple[str, ...]:
    """A configured command with ``{address}`` and ``{root}`` substituted in every word."""
    return tuple(render(word, target.host) for word in argv)


def _fill(argv: Sequence[str], values: Mapping[str, str]) -> tuple[str, ...]:
    out = []
    for word in argv:
        for key, value in values.items():
            word = word.replace("{" + key + "}", value)
        out.append(word)
    return tuple(out)


def backup_steps(target: Target, tag: str, backup_dir: str) -> list[Step]:
    """Make the folder and run the service's ``backup_command`` in the workdir.

    The command must write the dump to ``$RELMAN_BACKUP_FILE`` (also ``{backup_file}`` in its
    argv; ``{backup_dir}`` / ``$RELMAN_BACKUP_DIR`` is its folder).
    """
    assert target.service.backup_command
    return [
        Step("backup_prepare", ("mkdir", "-p", "--", backup_dir), timeout=30.0),
        _dump_step("backup", target, target.service.backup_command, tag, backup_dir),
    ]


def _dump_step(
    name: str, target: Target, command: Sequence[str], tag: str, backup_dir: str
) -> Step:
    """The backup or restore command in the workdir, told where the dump is: ``{backup_dir}``
    / ``{backup_file}`` in its argv, ``$RELMAN_BACKUP_DIR`` / ``$RELMAN_BACKUP_FILE``."""
    dump = posixpath.join(backup_dir, DUMP_NAME)
    env = service_env(target, tag)
    env.update(RELMAN_BACKUP_DIR=backup_dir, RELMAN_BACKUP_FILE=dump)
    argv = _fill(_rendered(target, command), {"backup_dir": backup_dir, "backup_file": dump})
    return Step(name, argv, cwd=target.workdir, env=env)


def backup_digest_step(backup_dir: str) -> Step:
    """Write ``SHA256SUMS`` (``sha256sum`` format) for the dump, print the dump's size in
    bytes and that line; exits :data:`DUMP_MISSING_STATUS` when the dump is missing or
    empty. The sum is taken on the host, so :func:`verify_backup_step` can follow in the
    same remote command."""
    return _sh("backup_digest", _DIGEST_SCRIPT, backup_dir, DUMP_NAME, stream=False)


def backup_manifest(
    *,
    service: str,
    environment: str,
    host: str,
    created_at: str,
    tag_before: str | None,
    sha_before: str | None,
    tag_deploying: str,
    size_bytes: int,
    sha256: str,
) -> dict[str, object]:
    """The backup's ``manifest.json`` (seed 001 §3.1): what was backed up, when, before which
    deploy, and the dump's size (bytes) and sha256."""
    return {
        "service": service,
        "environment": environment,
        "host": host,
        "created_at": created_at,
        "version_before": tag_before,
        "sha_before": sha_before,
        "deploying": tag_deploying,
        "dump": DUMP_NAME,
        "size_bytes": size_bytes,
        "sha256": sha256,
    }


def write_manifest_step(backup_dir: str, manifest: Mapping[str, object]) -> Step:
    """Write ``manifest.json`` into the backup folder (sent with the unlock, once the
    digest is known; unchecked: the dump and its ``SHA256SUMS`` are what a restore needs)."""
    text = json.dumps(manifest, ensure_ascii=False, sort_keys=True)
    return _sh(
        "backup_manifest", _WRITE_MANIFEST_SCRIPT, backup_dir, text, check=False, timeout=30.0
    )


def verify_backup_step(backup_dir: str, name: str = "backup_verify") -> Step:
    """Re-read the dump and compare it with ``SHA256SUMS`` (``sha256sum -c``)."""
    return Step(
        name,
        ("sha256sum", "-c", "--strict", "SHA256SUMS"),
        cwd=backup_dir,
    )


def restore_step(target: Target, tag: str, backup_dir: str) -> Step:
    """Run the service's ``restore_command`` with the backup's dump (a rollback that undoes a
    migration, seed 001 §4 / seed 002 §7)."""
    assert target.service.restore_command
    return _dump_step("restore", target, target.service.restore_command, tag, backup_dir)


# --- checkout, branches, migrate, build ------------------------------------------------


def checkout_step(target: Target, tag: str) -> Step:
    """``git checkout --force`` the tag, detached (seed 003: "Переключаемся на тег")."""
    return _checkout_step(target, f"refs/tags/{tag}")


def checkout_commit_step(target: Target, sha: str) -> Step:
    """``git checkout --force --detach`` one commit (a developer deploy checks out the
    commit it verified ``origin/<branch>`` points at, not the moving branch name)."""
    if not sha or sha.startswith("-"):
        raise ValueError(f"not a commit: {sha!r}")
    return _checkout_step(target, sha)


def _checkout_step(target: Target, ref: str) -> Step:
    return Step(
        "checkout",
        ("git", "-c", "advice.detachedHead=false", "checkout", "--force", "--detach", ref),
        cwd=target.workdir,
        env=GIT_ENV,
        timeout=120.0,
    )


_CLEAN_BRANCHES_SCRIPT = (
    "git for-each-ref --format='delete %(refname)' refs/heads/ | git update-ref --stdin"
)


def clean_branches_step(target: Target) -> Step:
    """Delete every local branch in one command (seed 003: "Очищаем старые ветки").

    Runs after the detached checkout, when no branch is current, so the host keeps only
    tags. The names never leave the host: ``for-each-ref`` feeds ``update-ref --stdin``
    directly, so a login shell's noise cannot be taken for a branch name.
    """
    return Step(
        "clean_branches",
        ("sh", "-c", _CLEAN_BRANCHES_SCRIPT),
        cwd=target.workdir,
        env=GIT_ENV,
        stream=False,
        timeout=60.0,
    )


def migrate_step(
    target: Target, tag: str, *, ref_type: RefType = "tag", sha: str | None = None
) -> Step:
    """Run the service's ``migrate_command`` in the workdir of the new release (or branch)."""
    assert target.service.migrate_command
    return Step(
        "migrate",
        _rendered(target, target.service.migrate_command),
        cwd=target.workdir,
        env=service_env(target, tag, ref_type=ref_type, sha=sha),
    )


def compose_argv(project: str, compose_file: str, *args: str) -> tuple[str, ...]:
    """``docker compose -p PROJECT -f FILE ARGS…`` (DESIGN.md §4)."""
    return ("docker", "compose", "-p", project, "-f", compose_file, *args)


def _compose_sh(target: Target, script: str, *args: str) -> tuple[str, ...]:
    """``sh -c SCRIPT sh PROJECT FILE SERVICE ARGS…``: a constant script about the compose
    service, given the project as ``$1``, the compose file as ``$2``, the service as ``$3``
    and ``args`` after them, so no value is parsed by a shell."""
    service = target.service
    assert service.compose_file and service.compose_service
    file = render(service.compose_file, target.host)
    return ("sh", "-c", script, "sh", target.compose_project, file, service.compose_service, *args)


def _compose(target: Target, *args: str) -> tuple[str, ...]:
    service = target.service
    assert service.compose_file and service.compose_service
    return compose_argv(target.compose_project, render(service.compose_file, target.host), *args)


#: Printed by the image reuse step: what it found (the engine logs which one happened).
IMAGE_PRESENT = "relman: image present, starting it without a build:"
IMAGE_ABSENT = "relman: image absent on this host, building it:"

# $1 project, $2 compose file, $3 service. The image reference comes from compose itself
# (the file's ``image:`` with IMAGE_TAG); ``docker image inspect`` tells whether it is
# here, so only a missing image is built — a failing start is a failure, not a rebuild.
_REUSE_SCRIPT = (
    'ref=$(docker compose -p "$1" -f "$2" config --images "$3") || exit 1\n'
    'if docker image inspect "$ref" >/dev/null 2>&1; then\n'
    f'  echo "{IMAGE_PRESENT} $ref"\n'
    '  exec docker compose -p "$1" -f "$2" up -d --no-build "$3"\n'
    "fi\n"
    f'echo "{IMAGE_ABSENT} $ref"\n'
    'exec docker compose -p "$1" -f "$2" up -d --build "$3"'
)


#: Printed by the registry start step (then the image reference or the digest).
IMAGE_PULLED = "relman: image pulled from the registry:"
IMAGE_BUILT = "relman: image not in the registry, built and pushed:"
IMAGE_DIGEST = "relman: image digest:"
#: Exit status of the registry start step: the image could not be pulled (and may not be
#: built here), or its digest is not the approved one.
PULL_FAILED_STATUS = 4
DIGEST_MISMATCH_STATUS = 5

# $1 project, $2 compose file, $3 service, $4 reuse a present image (yes/no), $5 may build
# and push when the registry lacks the image (yes/no), $6 the approved digest ("" none).
_REGISTRY_SCRIPT = (
    "p=$1 f=$2 s=$3 reuse=$4 may_build=$5 want=$6\n"
    'ref=$(docker compose -p "$p" -f "$f" config --images "$s") || exit 1\n'
    'if [ "$reuse" = yes ] && docker image inspect "$ref" >/dev/null 2>&1; then\n'
    f'  echo "{IMAGE_PRESENT} $ref"\n'
    'elif docker compose -p "$p" -f "$f" pull --quiet "$s"; then\n'
    f'  echo "{IMAGE_PULLED} $ref"\n'
    'elif [ "$may_build" = yes ]; then\n'
    '  docker compose -p "$p" -f "$f" build "$s" || exit 1\n'
    '  docker compose -p "$p" -f "$f" push --quiet "$s" || exit 1\n'
    f'  echo "{IMAGE_BUILT} $ref"\n'
    "else\n"
    '  echo "relman: cannot pull $ref (and this environment does not build images)"\n'
    f"  exit {PULL_FAILED_STATUS}\n"
    "fi\n"
    "digest=$(docker image inspect --format '{{range .RepoDigests}}{{.}} {{end}}' \"$ref\")\n"
    "digest=${digest%% *}; digest=${digest#*@}\n"
    f'echo "{IMAGE_DIGEST} $digest"\n'
    'if [ -n "$want" ] && [ "$digest" != "$want" ]; then\n'
    '  echo "relman: $ref is $digest, but $want was approved"\n'
    f"  exit {DIGEST_MISMATCH_STATUS}\n"
    "fi\n"
    'exec docker compose -p "$p" -f "$f" up -d --no-build "$s"'
)


def restart_step(
    target: Target,
    tag: str,
    *,
    reuse_image: bool = False,
    may_build: bool = True,
    expected_digest: str | None = None,
    ref_type: RefType = "tag",
    sha: str | None = None,
) -> Step:
    """Build and (re)start the service, in the workdir: the compose command
    (``IMAGE_TAG=<tag>``, ``up -d --build``; with ``reuse_image`` — a rollback — the
    tag's image is started without a build when ``docker image inspect`` finds it, and
    built only when it is absent, printing :data:`IMAGE_PRESENT` or :data:`IMAGE_ABSENT`
    first) or the shell strategy's ``start_command``.

    With ``image_source = "registry"`` the image is never built from this checkout unless
    the registry lacks it and ``may_build`` (stage): kept (``reuse_image``), else pulled,
    else built and pushed; then its digest is printed (:data:`IMAGE_DIGEST`) and, when
    ``expected_digest`` is given, must equal it (exit :data:`DIGEST_MISMATCH_STATUS`, the
    running container untouched) before ``up -d --no-build``; a pull that fails where
    building is not allowed exits :data:`PULL_FAILED_STATUS`. For a branch ``tag`` is the branch
    name, also given to ``{tag}`` and ``{version}`` in ``start_command``."""
    service = target.service
    env = service_env(target, tag, ref_type=ref_type, sha=sha)
    if service.strategy == "compose" and service.image_source == "registry":
        argv: tuple[str, ...] = _compose_sh(
            target,
            _REGISTRY_SCRIPT,
            "yes" if reuse_image else "no",
            "yes" if may_build else "no",
            expected_digest or "",
        )
        return Step("restart", argv, cwd=target.workdir, env=env)
    if service.strategy == "compose":
        assert service.compose_file and service.compose_service
        if reuse_image:
            argv = _compose_sh(target, _REUSE_SCRIPT)
        else:
            argv = _compose(target, "up", "-d", "--build", service.compose_service)
        return Step("restart", argv, cwd=target.workdir, env=env)
    assert service.start_command
    version = tag if ref_type == "branch" else version_of(tag)
    argv = _fill(_rendered(target, service.start_command), {"tag": tag, "version": version})
    return Step("restart", argv, cwd=target.workdir, env=env)


# $1 project, $2 compose file, $3 service, $4 tag.
_COMPOSE_CHECK_SCRIPT = (
    "command -v docker >/dev/null 2>&1 || "
    '{ echo "docker is not installed on this host"; exit 3; }\n'
    '[ -f "$2" ] || { echo "compose file $2 is not in the checkout of $4"; exit 3; }\n'
    'services=$(docker compose -p "$1" -f "$2" config --services) || exit 3\n'
    'printf \'%s\\n\' "$services" | grep -qx -- "$3" && exit 0\n'
    'echo "service $3 is not in $2 at $4 (it has: $(echo $services))"\n'
    "exit 3"
)


def compose_check_step(target: Target, tag: str) -> Step:
    """Check, after the checkout and before anything restarts, that docker is there, the
    compose file exists and names the service (each refusal names file, service and
    tag)."""
    return Step(
        "compose_check",
        _compose_sh(target, _COMPOSE_CHECK_SCRIPT, tag),
        cwd=target.workdir,
        env=service_env(target, tag),
        timeout=60.0,
    )


# $1 project, $2 compose file, $3 service, $4 seconds. Prints the exit code when the
# container stops; bounded by ``timeout`` so nothing is left behind on the host.
_WATCH_SCRIPT = (
    'id=$(docker compose -p "$1" -f "$2" ps --all -q "$3") || exit 1\n'
    '[ -n "$id" ] || { echo "relman: no container for $3"; exit 0; }\n'
    'code=$(timeout "$4" docker wait "$id") || exit 0\n'
    'echo "relman: container exited: $code"'
)

#: The line the container watch prints when the container stopped (then its exit code).
CONTAINER_EXITED = "relman: container exited:"


def container_watch_step(target: Target, tag: str, seconds: float) -> Step:
    """Watch the compose service's container during the health check: exits when the
    container stops (printing :data:`CONTAINER_EXITED` and its exit code) or after
    ``seconds`` (the health check's window), whichever comes first."""
    limit = max(1, int(seconds + 0.999))
    return Step(
        "container_watch",
        _compose_sh(target, _WATCH_SCRIPT, str(limit)),
        cwd=target.workdir,
        env=service_env(target, tag),
        check=False,
        stream=False,
        timeout=limit + 30.0,
    )


# $1 project, $2 compose file, $3 service, then the tags to keep. Images of the service's
# repository with another tag are removed; one still used by a container is skipped.
_PRUNE_SCRIPT = (
    'ref=$(docker compose -p "$1" -f "$2" config --images "$3") || exit 1\n'
    "repo=${ref%:*}\n"
    "shift 3\n"
    "docker image ls --format '{{.Tag}}' \"$repo\" | while read -r tag; do\n"
    "  keep=no\n"
    '  for k in "$@"; do [ "$tag" = "$k" ] && keep=yes; done\n'
    '  [ "$keep" = yes ] || [ "$tag" = "<none>" ] && continue\n'
    '  if docker image rm "$repo:$tag" >/dev/null 2>&1; then echo "removed $repo:$tag"; fi\n'
    "done\n"
    "exit 0"
)


def prune_images_step(target: Target, tag: str, keep: Sequence[str]) -> Step:
    """Remove the compose service's images whose tag is not in ``keep`` (the last healthy
    tags, issue "Containers for real" item 3); unchecked."""
    return Step(
        "prune_images",
        _compose_sh(target, _PRUNE_SCRIPT, *keep),
        cwd=target.workdir,
        env=service_env(target, tag),
        check=False,
        timeout=120.0,
    )


# $1 project, $2 compose file, $3 service, $4 lines.
_COMPOSE_LOG_SCRIPT = (
    'docker compose -p "$1" -f "$2" ps --all "$3"\n'
    'docker compose -p "$1" -f "$2" logs --no-color --tail "$4" "$3"'
)


def service_log_step(target: Target, tag: str, *, ref_type: RefType = "tag") -> Step | None:
    """The step that shows the service's recent log: ``log_command``, else ``tail`` of
    ``log_file``, else — for compose — ``docker compose ps`` and the last
    :data:`SERVICE_LOG_LINES` lines of ``docker compose logs SERVICE``; ``None`` when none
    applies. It runs with the deploy's variables (``IMAGE_TAG``, ``RELMAN_TAG``, …), which
    a compose file's ``${IMAGE_TAG:?}`` needs."""
    service = target.service
    if service.log_command:
        argv: tuple[str, ...] = _rendered(target, service.log_command)
    elif service.log_file:
        path = posixpath.join(target.workdir, render(service.log_file, target.host))
        argv = ("tail", "-n", str(SERVICE_LOG_LINES), "--", path)
    elif service.strategy == "compose":
        argv = _compose_sh(target, _COMPOSE_LOG_SCRIPT, str(SERVICE_LOG_LINES))
    else:
        return None
    return Step(
        "service_log",
        argv,
        cwd=target.workdir,
        env=service_env(target, tag, ref_type=ref_type),
        check=False,
        stream=False,
        timeout=60.0,
    )


# --- one remote command for several steps -----------------------------------------------

#: A step's name as it may appear in a joined script's markers and in file names.
_STEP_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")


def join_steps(steps: Sequence[Step], nonce: str, *, name: str = "batch") -> Step:
    """Join ``steps`` into one ``sh -c SCRIPT sh NONCE ARG…`` step (pure; tested as data).

    The script is built from the steps' shape only: each word, ``cwd`` and ``K=V`` of a
    step becomes a positional argument and the script refers to it as ``"${N}"``, so no
    value is ever parsed by a shell, local or remote. Each step runs in a subshell
    (``cd -- DIR && exec env K=V… ARGV``), stdin from ``/dev/null``, stderr merged into
    stdout. Before a step the script prints ``NONCE:INDEX:begin`` and after it
    ``NONCE:INDEX:end:STATUS`` on lines of their own; a failing ``check`` step ends the
    script with its status, so later steps do not run. A step with ``only_if`` runs only
    when that command (its words positional arguments too, stdin from ``/dev/null``, output
    discarded) exits 0; else it prints no markers. :class:`relman.deploy.runner.StepRunner`
    reads the markers back. ``nonce`` (letters and digits, at least 16) makes a marker
    impossible for a command's output to forge. The joined step's timeout is the sum of
    the steps' timeouts (``None`` if any step uses the host's default).

    Raises :class:`ValueError` for no steps, a bad nonce, or a step name that is not
    ``[a-z][a-z0-9_]*``.
    """
    if not steps:
        raise ValueError("no steps to join")
    if len(nonce) < 16 or not nonce.isalnum():
        raise ValueError("the nonce must be at least 16 letters or digits")
    args: list[str] = [nonce]

    def ref(value: str) -> str:
        args.append(value)
        return f'"${{{len(args)}}}"'

    lines = ["exec 2>&1"]
    for index, step in enumerate(steps):
        if not _STEP_NAME_RE.fullmatch(step.name):
            raise ValueError(f"step name {step.name!r} is not [a-z][a-z0-9_]*")
        if not step.argv:
            raise ValueError(f"step {step.name} has no argv")
        command = " ".join(ref(word) for word in step.argv)
        if step.env:
            command = (
                "env "
                + " ".join(ref(f"{k}={step.env[k]}") for k in sorted(step.env))
                + (" " + command)
            )
        command = "exec " + command
        if step.cwd:
            command = f"cd -- {ref(step.cwd)} && {command}"
        body = [
            f"printf '%s:{index}:begin\\n' \"$1\"",
            f"( {command} ) </dev/null",
            "s=$?",
            f'printf \'\\n%s:{index}:end:%s\\n\' "$1" "$s"',
        ]
        if step.check:
            body.append('[ "$s" -eq 0 ] || exit "$s"')
        if step.only_if:
            guard = " ".join(ref(word) for word in step.only_if)
            body = [f"if ( exec {guard} ) </dev/null >/dev/null 2>&1; then", *body, "fi"]
        lines += body
    lines.append("exit 0")
    timeouts = [step.timeout for step in steps]
    total = None if any(t is None for t in timeouts) else sum(t for t in timeouts if t)
    return Step(
        name=name,
        argv=("sh", "-c", "\n".join(lines), "sh", *args),
        timeout=total,
        check=False,
        stream=False,
    )


# --- relman config check (issue 15 item 8) ----------------------------------------------

_CHECK_WORKDIR_SCRIPT = (
    'if [ -e "$1/.git" ]; then echo "git checkout $1"\n'
    'elif [ -d "$1" ]; then\n'
    '  [ -w "$1" ] || { echo "$1 exists but is not writable by $(id -un)"; exit 1; }\n'
    '  echo "folder $1 (no checkout yet: the first deploy makes one)"\n'
    'elif [ -e "$1" ]; then echo "$1 exists but is not a folder"; exit 1\n'
    "else\n"
    '  p=$(dirname -- "$1")\n'
    '  [ -d "$p" ] || { echo "$1 is missing and so is its parent $p (a typo in workdir or'
    ' root?)"; exit 1; }\n'
    '  [ -w "$p" ] || { echo "$1 is missing and $p is not writable by $(id -un)"; exit 1; }\n'
    '  echo "$1 is missing; $p is writable: the first deploy clones there"\n'
    "fi"
)


def check_connect_step() -> Step:
    """A command that does nothing: running it proves the host answers, its key is the
    pinned one and the login works (the transport connects on the first command)."""
    return Step("connect", ("true",), stream=False, timeout=30.0)


def check_workdir_step(target: Target) -> Step:
    """Whether the service's workdir is usable: a checkout, a writable folder, or missing
    under a writable parent (the first deploy clones); exit 1 with the reason otherwise."""
    return _sh("workdir", _CHECK_WORKDIR_SCRIPT, target.workdir, stream=False, timeout=30.0)


def _check_program_step(name: str, program: str, *argv: str) -> Step:
    script = (
        f'command -v {program} >/dev/null 2>&1 || {{ echo "{program} is not installed '
        '(not on the PATH of the deploy user)"; exit 127; }\n"$@"'
    )
    return _sh(name, script, *argv, stream=False, timeout=30.0)


def check_git_step() -> Step:
    """``git --version``, or exit 127 saying git is not installed."""
    return _check_program_step("git", "git", "git", "--version")


def check_docker_step() -> Step:
    """The Docker engine's version (``docker version``: the daemon must answer), or exit
    127 saying docker is not installed."""
    return _check_program_step(
        "docker", "docker", "docker", "version", "--format", "engine {{.Server.Version}}"
    )


def check_compose_step() -> Step:
    """``docker compose version`` (Compose v2, what the compose strategy runs)."""
    return _check_program_step("compose", "docker", "docker", "compose", "version")
