"""Deploy steps are data: every argv the engine runs, asserted without running it."""

from __future__ import annotations

import json
import shlex

import pytest

from relman.config import HealthCheck, Host, Service
from relman.deploy.ssh import remote_command
from relman.deploy.steps import (
    LOCK_HELD_STATUS,
    backup_digest_step,
    backup_dir_for,
    backup_steps,
    checkout_step,
    clean_branches_step,
    compose_argv,
    fetch_steps,
    lock_details,
    lock_step,
    make_target,
    migrate_step,
    preflight_steps,
    probe_step,
    read_env_file_steps,
    render,
    restart_step,
    restore_step,
    service_env,
    service_log_step,
    unlock_step,
    verify_backup_step,
    verify_tag_step,
    version_of,
    write_manifest_step,
)
from relman.domain.errors import InvalidInput

HEALTH = HealthCheck(url="http://{address}:8004/health")
HOST = Host(transport="local", address="10.0.0.5", root="/srv/")


def shell_service(**extra: object) -> Service:
    values: dict[str, object] = {
        "repo": "https://github.com/acme/hello.git",
        "workdir": "{root}/apps/hello",
        "start_command": ["sh", "start.sh", "--version={version}", "--root={root}"],
        "health": HEALTH,
        "env": {"HELLO_HOST": "{address}", "HELLO_PORT": "8004"},
    }
    values.update(extra)
    return Service.model_validate(values)


def compose_service() -> Service:
    return Service(
        repo="git@github.com:acme/content.git",
        workdir="{root}/loom/loom-content",
        strategy="compose",
        compose_file="../loom-system/docker-compose/app.yaml",
        compose_service="loom-content",
        health=HEALTH,
    )


def test_target_renders_paths_and_keeps_state_next_to_the_checkout() -> None:
    target = make_target("hello", shell_service(), "web1", HOST)
    assert target.workdir == "/srv/apps/hello"
    assert target.state_dir == "/srv/apps/.relman-hello"
    assert target.lock_dir == "/srv/apps/.relman-hello/lock"
    assert target.backups_dir == "/srv/apps/.relman-hello/backups"
    assert target.env == {"HELLO_HOST": "10.0.0.5", "HELLO_PORT": "8004"}
    assert render("http://{address}:1/{root}/x{y}", HOST) == "http://10.0.0.5:1//srv/x{y}"


def test_service_env_carries_the_release_and_image_tag() -> None:
    target = make_target("hello", shell_service(), "web1", HOST)
    env = service_env(target, "v1.2.3")
    assert env["IMAGE_TAG"] == "v1.2.3"
    assert env["RELMAN_TAG"] == "v1.2.3"
    assert env["RELMAN_VERSION"] == "1.2.3"
    assert env["RELMAN_SERVICE"] == "hello"
    assert env["HELLO_HOST"] == "10.0.0.5"
    assert version_of("v1.2.3-rc.1") == "1.2.3-rc.1"


def test_lock_is_an_atomic_mkdir_with_details_passed_as_arguments() -> None:
    target = make_target("hello", shell_service(), "web1", HOST)
    details = lock_details(
        deploy_id="abc",
        actor="tg:42 Alice",
        since="2024-03-15T14:30:00Z",
        tag="v1.2.3",
        reason="deploy v1.2.3 to production",
        pid=1234,
        machine="relman-1",
        environment="production",
    )
    step = lock_step(target, details)
    assert step.argv[:2] == ("sh", "-c")
    script = step.argv[2]
    assert 'mkdir -- "$1"' in script and f"exit {LOCK_HELD_STATUS}" in script
    # values never go into the script text: they are positional arguments
    assert step.argv[3:] == ("sh", "/srv/apps/.relman-hello/lock", details)
    assert "tg:42" not in script
    assert json.loads(details)["actor"] == "tg:42 Alice"
    assert not step.check
    unlock = unlock_step(target, "abc")
    assert unlock.argv[3:] == ("sh", "/srv/apps/.relman-hello/lock", "abc")


def test_preflight_is_git_status_describe_and_rev_parse() -> None:
    target = make_target("hello", shell_service(), "web1", HOST)
    steps = preflight_steps(target)
    assert [s.argv for s in steps] == [
        ("git", "status", "--porcelain"),
        ("git", "describe", "--tags", "--exact-match", "HEAD"),
        ("git", "rev-parse", "HEAD"),
    ]
    assert all(s.cwd == "/srv/apps/hello" for s in steps)
    assert all(s.env["GIT_TERMINAL_PROMPT"] == "0" for s in steps)
    assert probe_step(target).argv[-1] == "/srv/apps/hello"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            "none",
            [
                (
                    "git",
                    "clone",
                    "--no-checkout",
                    "--",
                    "https://github.com/acme/hello.git",
                    "/srv/apps/hello",
                ),
                ("git", "fetch", "origin", "--tags", "--force"),
            ],
        ),
        (
            "files",
            [
                ("git", "init", "-q", "--", "/srv/apps/hello"),
                ("git", "remote", "add", "origin", "https://github.com/acme/hello.git"),
                ("git", "fetch", "origin", "--tags", "--force"),
            ],
        ),
        ("git", [("git", "fetch", "origin", "--tags", "--force")]),
    ],
)
def test_fetch_clones_only_without_a_checkout(state: str, expected: list[tuple[str, ...]]) -> None:
    target = make_target("hello", shell_service(), "web1", HOST)
    assert [s.argv for s in fetch_steps(target, state)] == expected


def test_tag_check_checkout_and_branch_cleanup() -> None:
    target = make_target("hello", shell_service(), "web1", HOST)
    assert verify_tag_step(target, "v1.2.3").argv == (
        "git",
        "rev-parse",
        "--verify",
        "--quiet",
        "refs/tags/v1.2.3^{commit}",
    )
    assert checkout_step(target, "v1.2.3").argv == (
        "git",
        "-c",
        "advice.detachedHead=false",
        "checkout",
        "--force",
        "--detach",
        "refs/tags/v1.2.3",
    )
    clean = clean_branches_step(target)
    # the branch names never leave the host: for-each-ref feeds update-ref directly
    assert clean.argv == (
        "sh",
        "-c",
        "git for-each-ref --format='delete %(refname)' refs/heads/ | git update-ref --stdin",
    )
    assert clean.cwd == "/srv/apps/hello"


def test_compose_build_and_rollback_without_rebuild() -> None:
    target = make_target("content", compose_service(), "prod", HOST, "production")
    assert target.compose_project == "content-production"
    build = restart_step(target, "v1.2.3")
    assert build.argv == (
        "docker",
        "compose",
        "-p",
        "content-production",
        "-f",
        "../loom-system/docker-compose/app.yaml",
        "up",
        "-d",
        "--build",
        "loom-content",
    )
    assert build.cwd == "/srv/loom/loom-content"
    assert build.env["IMAGE_TAG"] == "v1.2.3"
    reuse = restart_step(target, "v1.2.2", reuse_image=True)
    # only a missing image is built: docker image inspect decides, not a failed start
    assert reuse.argv[:2] == ("sh", "-c")
    assert 'docker image inspect "$ref"' in reuse.argv[2]
    assert "up -d --no-build" in reuse.argv[2]
    assert reuse.argv[3:] == (
        "sh",
        "content-production",
        "../loom-system/docker-compose/app.yaml",
        "loom-content",
    )
    assert reuse.env["IMAGE_TAG"] == "v1.2.2"
    assert compose_argv("p", "a.yaml", "ps")[2:] == ("-p", "p", "-f", "a.yaml", "ps")
    # with no log_command or log_file, a failure shows compose ps and the service's logs,
    # with the deploy's variables (a compose file's ${IMAGE_TAG:?} needs them)
    logs = service_log_step(target, "v1.2.3")
    assert logs is not None and "logs --no-color --tail" in logs.argv[2]
    assert logs.env["IMAGE_TAG"] == "v1.2.3"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (None, "content-dev-alice"),
        ("shop-{address}", "shop-10-0-0-5"),
        ("Shop.{host}", "shop-prod"),
        ("__{service}", "content"),
    ],
)
def test_compose_project_names_are_what_compose_accepts(
    template: str | None, expected: str
) -> None:
    service = compose_service().model_copy(update={"compose_project": template})
    assert make_target("content", service, "prod", HOST, "dev:alice").compose_project == expected


def test_a_compose_project_that_cannot_be_normalized_names_the_field() -> None:
    service = compose_service().model_copy(update={"compose_project": "..."})
    with pytest.raises(InvalidInput, match="compose_project"):
        make_target("content", service, "prod", HOST, "production")


def test_shell_strategy_runs_the_start_command_with_placeholders() -> None:
    target = make_target("hello", shell_service(), "web1", HOST)
    step = restart_step(target, "v1.1.0")
    assert step.argv == ("sh", "start.sh", "--version=1.1.0", "--root=/srv")
    assert step.cwd == "/srv/apps/hello"
    assert step.env["HELLO_PORT"] == "8004"


def test_backup_steps_tell_the_command_where_the_dump_goes() -> None:
    service = shell_service(
        backup_command=["pg_dump", "-f", "{backup_file}", "app"],
        restore_command=["pg_restore", "-d", "app", "{backup_file}"],
        migrate_command=["alembic", "upgrade", "head"],
    )
    target = make_target("hello", service, "web1", HOST)
    folder = backup_dir_for(target, "20240315T143000Z", "v1.2.3")
    assert folder == "/srv/apps/.relman-hello/backups/20240315T143000Z-v1.2.3"
    prepare, run = backup_steps(target, "v1.2.3", folder)
    assert prepare.argv == ("mkdir", "-p", "--", folder)
    assert run.argv == ("pg_dump", "-f", f"{folder}/db.dump", "app")
    assert run.env["RELMAN_BACKUP_FILE"] == f"{folder}/db.dump"
    assert run.env["RELMAN_BACKUP_DIR"] == folder
    assert backup_digest_step(folder).argv[3:] == ("sh", folder, "db.dump")
    assert 'sha256sum -- "$2" > SHA256SUMS' in backup_digest_step(folder).argv[2]
    manifest_step = write_manifest_step(folder, {"sha256": "ab" * 32})
    assert manifest_step.argv[3:] == ("sh", folder, '{"sha256": "' + "ab" * 32 + '"}')
    assert verify_backup_step(folder).check
    assert verify_backup_step(folder).argv == ("sha256sum", "-c", "--strict", "SHA256SUMS")
    assert verify_backup_step(folder).cwd == folder
    assert restore_step(target, "v1.2.2", folder).argv == (
        "pg_restore",
        "-d",
        "app",
        f"{folder}/db.dump",
    )
    assert migrate_step(target, "v1.2.3").argv == ("alembic", "upgrade", "head")


def test_env_files_are_read_quietly_and_service_log_is_a_tail() -> None:
    service = shell_service(env_files=["hello.env", "{root}/shared/.env"], log_file="service.log")
    target = make_target("hello", service, "web1", HOST)
    reads = read_env_file_steps(target)
    assert [s.argv for s in reads] == [
        ("cat", "--", "/srv/apps/hello/hello.env", "/srv/shared/.env"),
    ]
    assert all(s.sensitive and not s.stream and not s.check for s in reads)
    log_step = service_log_step(target, "v1.0.0")
    assert log_step is not None
    assert log_step.argv == ("tail", "-n", "50", "--", "/srv/apps/hello/service.log")
    with_command = make_target(
        "hello", shell_service(log_command=["journalctl", "-u", "hello", "-n", "50"]), "w", HOST
    )
    step = service_log_step(with_command, "v1.0.0")
    assert step is not None and step.argv[0] == "journalctl"
    assert service_log_step(make_target("hello", shell_service(), "w", HOST), "v1.0.0") is None


def test_remote_command_quotes_every_word() -> None:
    line = remote_command(
        ["git", "checkout", "refs/tags/v1.0.0; rm -rf /"],
        cwd="/srv/my app",
        env={"B": "x y", "A": "$(id)"},
    )
    assert line == (
        "cd -- '/srv/my app' && env 'A=$(id)' 'B=x y' git checkout 'refs/tags/v1.0.0; rm -rf /'"
    )
    assert shlex.split(line.split(" && ", 1)[1]) == [
        "env",
        "A=$(id)",
        "B=x y",
        "git",
        "checkout",
        "refs/tags/v1.0.0; rm -rf /",
    ]
    assert remote_command(["true"]) == "true"
    with pytest.raises(ValueError, match="empty"):
        remote_command([])
