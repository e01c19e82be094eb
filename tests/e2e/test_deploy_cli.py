"""``relman deploy``/``rollback``/``config import-servers`` as a user runs them: real
processes, a real relman.toml, the sample repository, hello-service over HTTP."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
import tomlkit

from relman.demo.sample_repo import SampleRepo
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper, wait_for_health
from tests.support.sshd import free_port

#: Wide enough that rich never wraps a path.
WIDE = {"COLUMNS": "200"}


def printed_path(stdout: str, label: str) -> Path:
    """The path on the ``<label>: PATH`` line of ``stdout``."""
    lines = [line for line in stdout.splitlines() if line.startswith(f"{label}: ")]
    assert lines, f"no '{label}:' line in:\n{stdout}"
    return Path(lines[-1].split(": ", 1)[1].strip())


def hello_project(
    folder: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    *,
    environment: str,
    host: str,
    **tables: object,
) -> Path:
    """Write ``folder``'s relman.toml (hello-service on one local host ``host`` of
    ``environment``, plus any other top-level ``tables``) and migrate its database;
    returns ``folder``. hello-service will listen on ``folder/"port"``'s port."""
    port = free_port("127.0.0.1")
    root = folder / host
    service_reaper.watch(root / "hello")
    config = {
        "services": {
            "hello": {
                "repo": sample_repo.url,
                "workdir": "{root}/hello",
                "start_command": ["sh", "start.sh"],
                "log_file": "service.log",
                "health": {
                    "url": f"http://{{address}}:{port}/health",
                    "attempts": 30,
                    "interval": 0.1,
                    "timeout": 2.0,
                },
                "env": {
                    "HELLO_HOST": "{address}",
                    "HELLO_PORT": str(port),
                    "HELLO_PYTHON": sys.executable,
                },
            }
        },
        "hosts": {host: {"transport": "local", "address": "127.0.0.1", "root": str(root)}},
        "environments": {environment: {"hosts": [host]}},
        **tables,
    }
    (folder / "relman.toml").write_text(tomlkit.dumps(config), encoding="utf-8")
    (folder / "port").write_text(str(port))
    migrated = relman(["db", "upgrade"], folder)
    assert migrated.returncode == 0, migrated.stderr
    return folder


@pytest.fixture
def project(tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper) -> Path:
    """A working directory with relman.toml (one local host, stage) and a migrated
    database; returns it."""
    return hello_project(tmp_path, sample_repo, service_reaper, environment="stage", host="box")


def health_url(project: Path) -> str:
    return f"http://127.0.0.1:{(project / 'port').read_text()}/health"


def test_deploy_prints_progress_and_the_log_then_a_broken_release_exits_1(
    project: Path,
) -> None:
    done = relman(["deploy", "hello", "v1.0.0", "--env", "stage"], project, **WIDE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert wait_for_health(health_url(project), version="1.0.0").status == 200
    # live progress (without a terminal: the hosts' log lines as they come, in the CLI's
    # language, English by default), then the result
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("[box] ")
        and line.endswith("s 📥 Fetching updates from the remote repository")
        for line in lines
    ), done.stdout
    assert any(
        line.startswith("[box] ")
        and line.endswith("s ok: ✅ Tag v1.0.0 deployed successfully, the application is working!")
        for line in lines
    ), done.stdout
    log = printed_path(done.stdout, "log")
    assert log == Path("var/log/deployments/hello/v1.0.0.log")
    assert "✅ Тег v1.0.0 успешно развернут" in (project / log).read_text(encoding="utf-8")
    assert (project / printed_path(done.stdout, "evidence") / "SHA256SUMS").is_file()

    broken = relman(["deploy", "hello", "v1.2.0", "--env", "stage"], project, **WIDE)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "deploy failed on: box (retry with --hosts box)" in broken.stdout
    assert "s FAILED: ❌ Health check failed after 30 attempts" in broken.stdout
    assert (project / "var/log/deployments/hello/v1.2.0.log").is_file()
    # stage rolls back on its own to the last healthy tag
    assert "automatic rollback to v1.0.0" in broken.stdout
    assert wait_for_health(health_url(project), version="1.0.0").status == 200

    back = relman(["rollback", "hello", "--env", "stage", "--to", "v1.1.0"], project, **WIDE)
    assert back.returncode == 0, back.stdout + back.stderr
    assert printed_path(back.stdout, "log") == Path(
        "var/log/deployments/rollback/hello/v1.1.0-rollback.log"
    )
    assert wait_for_health(health_url(project), version="1.1.0").status == 200


def test_deploy_refusals_are_one_line_exit_2(project: Path) -> None:
    unknown = relman(["deploy", "hello", "v1.0.0", "--env", "nope"], project, **WIDE)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: environment: unknown environment 'nope' (known: stage)"
    ]
    bad_tag = relman(["deploy", "hello", "latest", "--env", "stage"], project, **WIDE)
    assert bad_tag.returncode == 2 and "tag" in bad_tag.stderr
    for hosts, said in ((",", "no hosts selected"), ("box,nope", "not in stage: nope")):
        refused = relman(["deploy", "hello", "v1.0.0", "--env", "stage", "--hosts", hosts], project)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.strip().splitlines() == [f"error: hosts: {said}"]
    assert not (project / "box" / "hello").exists()


def test_import_servers_prints_tables_without_passwords(tmp_path: Path) -> None:
    servers = tmp_path / ".env.servers"
    servers.write_text(
        "LOOM_INTERSERVER_SECRET_KEY=api-secret-9f\n"
        "developer1_HOST=192.168.1.10\ndeveloper1_PASSWORD=pw-dev1-7c\n"
        "STAGE_HOST=192.168.1.20\nSTAGE_PASSWORD=pw-stage-2d\n"
        "PROD_HOST=192.168.1.30\nPROD_PASSWORD=pw-prod-5e\n",
        encoding="utf-8",
    )
    done = relman(["config", "import-servers", str(servers), "--known-hosts", "/etc/kh"], tmp_path)
    assert done.returncode == 0, done.stderr
    for secret in ("api-secret-9f", "pw-dev1-7c", "pw-stage-2d", "pw-prod-5e"):
        assert secret not in done.stdout + done.stderr
    data = tomllib.loads(done.stdout)
    assert data["environments"]["dev:developer1"] == {
        "hosts": ["developer1"],
        "owner": "developer1",
    }
    assert data["hosts"]["developer1"]["password_env"] == "developer1_PASSWORD"
    assert data["hosts"]["production"]["known_hosts"] == "/etc/kh"
    assert set(data["environments"]) == {"stage", "production", "dev:developer1"}

    # the output is a relman.toml relman accepts
    (tmp_path / "relman.toml").write_text(done.stdout, encoding="utf-8")
    shown = relman(["config", "show"], tmp_path, **WIDE)
    assert shown.returncode == 0, shown.stderr
    assert "developer1" in shown.stdout and "dev:developer1" in shown.stdout

    missing = relman(["config", "import-servers", str(tmp_path / "absent")], tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'absent'}: no such file"
