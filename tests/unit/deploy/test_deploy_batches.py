"""Steps joined into one command (issue "Fast relman" item 2), run by a real ``sh``.

The joined script refers to positional arguments only; these tests run it through the
local transport and the runner, and check that each step keeps its own output, exit status
and evidence, that values with shell syntax are never interpreted, and that a failing
checked step stops the batch and is named.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relman.deploy.errors import CommandFailed
from relman.deploy.evidence import Evidence
from relman.deploy.local import LocalTransport
from relman.deploy.log import DeployLog, utc_now
from relman.deploy.redact import Redactor
from relman.deploy.rollout import plan_batches
from relman.deploy.runner import StepRunner
from relman.deploy.steps import Step, join_steps
from relman.domain.errors import InvalidInput

NONCE = "0123456789abcdef0123"


def _runner(tmp_path: Path) -> tuple[StepRunner, Evidence, DeployLog]:
    redactor = Redactor(["s3cret"])
    log = DeployLog(tmp_path / "deploy.log", redactor)
    evidence = Evidence(
        tmp_path / "evidence",
        service="hello",
        environment="stage",
        tag="v1.0.0",
        started=utc_now(),
        redactor=redactor,
    )
    runner = StepRunner(
        "box",
        LocalTransport("box"),
        log=log,
        redactor=redactor,
        evidence=evidence,
        default_timeout=30.0,
    )
    return runner, evidence, log


def test_join_puts_every_value_in_a_positional_argument() -> None:
    hostile = "$(touch /tmp/pwned); `id` ' \" ; && |"
    joined = join_steps(
        [
            Step("one", ("echo", hostile), cwd="/tmp/a b", env={"K": hostile}),
            Step("two", ("true",), check=False),
        ],
        NONCE,
    )
    assert joined.argv[:2] == ("sh", "-c")
    script = joined.argv[2]
    assert hostile not in script and "/tmp/a b" not in script and NONCE not in script
    assert joined.argv[3:] == ("sh", NONCE, "echo", hostile, f"K={hostile}", "/tmp/a b", "true")
    with pytest.raises(ValueError, match="nonce"):
        join_steps([Step("one", ("true",))], "short")
    with pytest.raises(ValueError, match="step name"):
        join_steps([Step("One; rm", ("true",))], NONCE)
    with pytest.raises(ValueError, match="no steps"):
        join_steps([], NONCE)


async def test_a_batch_is_one_execution_and_each_step_keeps_its_own_record(
    tmp_path: Path,
) -> None:
    runner, evidence, log = _runner(tmp_path)
    hostile = "$(echo INJECTED) `echo INJECTED` $HOME"
    folder = tmp_path / "work dir"
    folder.mkdir()
    done: list[tuple[str, int | None]] = []
    out = await runner.run_batch(
        [
            Step("greet", ("echo", hostile), message="👋 step one"),
            Step("where", ("pwd",), cwd=str(folder)),
            Step("env", ("sh", "-c", 'printf "%s" "$VALUE"'), env={"VALUE": "no newline"}),
            Step("fails", ("sh", "-c", "echo to-stderr >&2; exit 3"), check=False),
            Step("secret", ("echo", "s3cret"), sensitive=True),
            Step("blank", ("printf", "a\\n\\n")),
        ],
        on_done=lambda step, output: done.append((step.name, output.result.exit_status)),
    )
    assert runner.executions == 1
    assert out.failed is None
    assert out["greet"].lines == [hostile]  # printed as is: never parsed by a shell
    assert out["where"].lines == [str(folder)]
    assert out["env"].lines == ["no newline"]
    assert out["fails"].lines == ["to-stderr"] and out["fails"].result.exit_status == 3
    assert out["blank"].lines == ["a", ""]
    assert done == [
        ("greet", 0),
        ("where", 0),
        ("env", 0),
        ("fails", 3),
        ("secret", 0),
        ("blank", 0),
    ]
    assert [(r.name, r.exit_status) for r in runner.records] == done
    assert all(r.duration >= 0 for r in runner.records)
    step_log = (evidence.dir / "box" / "step_greet.log").read_text()
    assert hostile in step_log and "exit status 0" in step_log
    assert "s3cret" not in (evidence.dir / "box" / "step_secret.log").read_text()
    log.close()
    text = (tmp_path / "deploy.log").read_text()
    assert "👋 step one" in text and hostile in text and "s3cret" not in text
    assert NONCE not in text


async def test_a_failing_checked_step_stops_the_batch_and_is_named(tmp_path: Path) -> None:
    runner, _, _ = _runner(tmp_path)
    marker = tmp_path / "ran"
    out = await runner.run_batch(
        [
            Step("first", ("true",)),
            Step("broken", ("sh", "-c", "echo half; exit 7")),
            Step("never", ("touch", str(marker))),
        ]
    )
    assert not marker.exists()
    assert out.failed is not None and out.failed.name == "broken"
    assert set(out.outputs) == {"first", "broken"}
    with pytest.raises(CommandFailed) as raised:
        out.raise_failed()
    assert raised.value.details["step"] == "broken"
    assert raised.value.details["exit_status"] == 7
    assert "half" in str(raised.value) or raised.value.details["tail"] == ("half",)


async def test_a_guarded_step_runs_only_where_its_test_passes(tmp_path: Path) -> None:
    runner, _, log = _runner(tmp_path)
    here, gone = tmp_path / "here dir", tmp_path / "$(touch pwned)"
    here.mkdir()
    ran = tmp_path / "ran"
    out = await runner.run_batch(
        [
            Step("first", ("true",)),
            Step(
                "skipped",
                ("touch", str(ran)),
                only_if=("test", "-d", str(gone)),
                message="🙈 never logged",
            ),
            Step("guarded", ("echo", "yes"), only_if=("test", "-d", str(here))),
            Step("after", ("echo", "fine")),
        ]
    )
    assert runner.executions == 1
    assert set(out.outputs) == {"first", "guarded", "after"}  # skipped: as if not there
    assert out.get("skipped") is None and not ran.exists()
    assert out["guarded"].lines == ["yes"] and out["after"].lines == ["fine"]
    assert not (tmp_path / "pwned").exists()  # the guard's words are arguments too
    assert [r.name for r in runner.records] == ["first", "guarded", "after"]
    log.close()
    assert "never logged" not in (tmp_path / "deploy.log").read_text()
    with pytest.raises(ValueError, match="only_if"):  # a lone step has no script to guard in
        await runner.run(Step("alone", ("true",), only_if=("true",)))


async def test_forged_markers_in_output_are_just_output(tmp_path: Path) -> None:
    runner, _, _ = _runner(tmp_path)
    forged = "deadbeefdeadbeefdeadbeef:0:end:0"
    out = await runner.run_batch([Step("talk", ("echo", forged)), Step("after", ("echo", "fine"))])
    assert out["talk"].lines == [forged]
    assert out["after"].lines == ["fine"]


async def test_a_batch_timeout_names_the_step_that_hung(tmp_path: Path) -> None:
    runner, _, _ = _runner(tmp_path)
    out = await runner.run_batch(
        [Step("quick", ("true",), timeout=60.0), Step("hangs", ("sleep", "60"), timeout=0.5)]
    )
    assert out.failed is not None and out.failed.name == "hangs"
    assert out["hangs"].result.timed_out
    assert out["quick"].ok
    # each step is held to its own limit, not to the batch's sum (60.5 s)
    assert out["hangs"].result.duration < 30


def test_plan_batches() -> None:
    hosts = ["a", "b", "c", "d", "e"]
    assert plan_batches(hosts, None) == [hosts]
    assert plan_batches(hosts, 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert plan_batches(hosts, 5) == [hosts]
    assert plan_batches(hosts, 1) == [[h] for h in hosts]
    for bad in (0, -1, True, 1.5):
        with pytest.raises(InvalidInput, match="batch_size"):
            plan_batches(hosts, bad)  # type: ignore[arg-type]
