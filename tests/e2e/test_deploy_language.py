"""``relman deploy`` speaks ``RELMAN_LANGUAGE`` (issue 15 item 10): the progress lines and
the result table in English (the default) or Russian, while the deploy log file and
summary.json keep the seed's Russian. Real processes, the sample repository, hello-service
on a local host."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from relman.demo.sample_repo import SampleRepo
from tests.e2e.test_deploy_cli import WIDE, hello_project, printed_path
from tests.e2e.test_serve import relman
from tests.support.hello import ServiceReaper

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
#: A progress line without a terminal: ``[box] 1.2s text``.
PROGRESS = re.compile(r"^\[box\] \d+\.\ds (.*)$")


@pytest.fixture
def project(tmp_path: Path, sample_repo: SampleRepo, service_reaper: ServiceReaper) -> Path:
    """A working directory with relman.toml (hello-service on one local host ``box`` of
    stage) and a migrated database."""
    return hello_project(tmp_path, sample_repo, service_reaper, environment="stage", host="box")


def progress_texts(stdout: str) -> list[str]:
    """The texts of the progress lines, without the outcome word of the last one."""
    texts = [m.group(1) for line in stdout.splitlines() if (m := PROGRESS.match(line))]
    return [re.sub(r"^(ok|FAILED): ", "", text) for text in texts]


def log_texts(path: Path) -> list[str]:
    """The texts of a deploy log's lines (after ``YYYY-MM-DD HH:MM:SS - ``)."""
    return [line.split(" - ", 1)[1] for line in path.read_text(encoding="utf-8").splitlines()]


def table_rows(stdout: str) -> list[str]:
    """The lines of the result table's rows."""
    return [line for line in stdout.splitlines() if line.startswith("│ box")]


def test_english_deploy_output_over_a_russian_log(project: Path) -> None:
    done = relman(["deploy", "hello", "v1.0.0", "--env", "stage"], project, **WIDE)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = progress_texts(done.stdout)
    assert "🔒 Deploy lock acquired" in printed
    assert "📥 Fetching updates from the remote repository" in printed
    assert "✅ Tag v1.0.0 found and ready to use" in printed
    assert "✅ Health check passed!" in printed
    assert printed[-1] == "✅ Tag v1.0.0 deployed successfully, the application is working!"
    assert not CYRILLIC.search(done.stdout), done.stdout  # no Russian word on the screen
    logged = log_texts(project / printed_path(done.stdout, "log"))
    assert logged[0] == "🚀 Начинаем деплой тега v1.0.0"
    assert "✅ Тег v1.0.0 успешно развернут и приложение работает!" in logged
    assert not any("Deploy lock" in text or "deployed successfully" in text for text in logged)

    # relman's own error, from a seed message, in the result table too; summary.json Russian
    missing = relman(["deploy", "hello", "v9.9.9", "--env", "stage"], project, **WIDE)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    english = "❌ Tag v9.9.9 not found in the repository after the update!"
    assert progress_texts(missing.stdout)[-1] == english
    [row] = table_rows(missing.stdout)
    assert english in row and "FAILED" in row
    summary = project / printed_path(missing.stdout, "evidence") / "summary.json"
    error = json.loads(summary.read_text(encoding="utf-8"))["results"]["box"]["error"]
    assert error == "❌ Тег v9.9.9 не найден в репозитории после обновления!"


def test_russian_deploy_output_is_the_logs_words(project: Path) -> None:
    done = relman(
        ["deploy", "hello", "v1.0.0", "--env", "stage"], project, RELMAN_LANGUAGE="ru", **WIDE
    )
    assert done.returncode == 0, done.stdout + done.stderr
    printed = progress_texts(done.stdout)
    assert "📥 Получаем обновления из удаленного репозитория" in printed
    assert printed[-1] == "✅ Тег v1.0.0 успешно развернут и приложение работает!"
    logged = log_texts(project / printed_path(done.stdout, "log"))
    assert set(printed) <= set(logged)  # each printed message is a line of the log
    assert not any("Fetching" in text or "deployed successfully" in text for text in logged)

    missing = relman(
        ["deploy", "hello", "v9.9.9", "--env", "stage"], project, RELMAN_LANGUAGE="ru", **WIDE
    )
    assert missing.returncode == 1, missing.stdout + missing.stderr
    russian = "❌ Тег v9.9.9 не найден в репозитории после обновления!"
    assert progress_texts(missing.stdout)[-1] == russian
    [row] = table_rows(missing.stdout)
    assert russian in row
    # the CLI's own words stay English
    assert "deploy failed on: box (retry with --hosts box)" in missing.stdout


def test_a_bad_relman_language_is_one_line_exit_2(project: Path) -> None:
    refused = relman(["deploy", "hello", "v1.0.0", "--env", "stage"], project, RELMAN_LANGUAGE="de")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "error: setting RELMAN_LANGUAGE: Input should be 'ru' or 'en'"
    ]
    assert refused.stdout == ""
    assert not (project / "box" / "hello").exists()  # nothing deployed
    # the help does not read the settings
    helped = relman(["deploy", "--help"], project, RELMAN_LANGUAGE="de")
    assert helped.returncode == 0 and "Deploy TAG of SERVICE" in helped.stdout
