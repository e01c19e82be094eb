"""relman's deploy messages in two languages (issue 15 item 10): every seed message of
:mod:`relman.deploy.log` has an English twin carrying the same values; the log file keeps
the seed's Russian while progress reports, and the CLI's views of them, carry both texts,
redacted alike."""

from __future__ import annotations

import copy
import inspect
import itertools
import os
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest

from relman.cli.deploy import ProgressView
from relman.config import load_settings
from relman.deploy import log as msg
from relman.deploy.errors import BranchNotFound, TagNotFound
from relman.deploy.log import LANGUAGES, DeployLog, Message
from relman.deploy.progress import HostProgress, Progress
from relman.deploy.redact import Redactor
from relman.domain.errors import ConfigError

CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _samples(name: str, annotation: Any, number: int) -> list[Any]:
    """Values to call a message function with for one parameter: every choice of a
    Literal or a bool, and for the rest values that cannot occur in a message's words
    (so counting them in a text finds exactly the placeholders)."""
    if annotation is bool:
        return [False, True]
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if get_origin(annotation) in (typing.Union, types.UnionType):
        choices = [a for a in get_args(annotation) if a is not type(None)]
        values = [v for choice in choices for v in _samples(name, choice, number)]
        return values + ([None] if type(None) in get_args(annotation) else [])
    if annotation is int:
        return [7300 + number]
    if name == "strategy":  # a str that picks the wording
        return ["shell", "compose"]
    if annotation is str:
        return [f"@{name}:{number}@"]
    if annotation == list[str]:
        return [[f"@{name}:{number}a@", f"@{name}:{number}b@"]]
    if annotation is Message:
        return [Message(f"Привет @{name}:{number}@", f"Hello @{name}:{number}@")]
    raise AssertionError(f"no sample for {name}: {annotation!r}")


def _tokens(value: Any) -> list[str]:
    """The texts a sample value shows as inside a message (a Literal's choice picks the
    wording and is not shown, so only the ``@…@`` strings and the numbers count)."""
    if isinstance(value, list):
        return [token for item in value for token in _tokens(item)]
    if isinstance(value, str):
        return re.findall(r"@[^@]+@", value)
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]
    return []


def _param(token: str) -> str:
    """The parameter a token was made for (``@tag:0@`` → ``tag``; a number stands for
    itself)."""
    return token.strip("@").split(":")[0]


def every_message() -> Iterator[tuple[str, Message, list[str]]]:
    """(how it was made, the message, the placeholder texts in it) for every ``MSG_*``
    constant and every ``msg_*`` function of relman.deploy.log called with every choice
    of its Literal and bool parameters."""
    for name, value in vars(msg).items():
        if name.startswith("MSG_"):
            yield name, value, []
        elif name.startswith("msg_") and callable(value):
            hints = typing.get_type_hints(value)
            params = list(inspect.signature(value).parameters.values())
            choices = [_samples(p.name, hints[p.name], number) for number, p in enumerate(params)]
            for combo in itertools.product(*choices):
                args = {p.name: v for p, v in zip(params, combo, strict=True)}
                tokens = [t for v in combo for t in _tokens(v)]
                call = f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
                yield call, value(**args), tokens


def test_every_seed_message_has_an_english_twin_with_the_same_values() -> None:
    seen = list(every_message())
    shown: set[tuple[str, str]] = set()
    # every message found: 12 constants and 24 functions when this test was written
    assert len({made.split("(")[0] for made, _, _ in seen}) >= 36
    for made, said, tokens in seen:
        assert isinstance(said, Message), made
        assert said.ru and said.en, made
        assert not CYRILLIC.search(said.en), f"{made}: Russian left in {said.en!r}"
        if CYRILLIC.search(said.ru):
            assert said.en != said.ru, made
        # the same icon first, the same values in both texts, as often
        assert said.ru.split()[0] == said.en.split()[0], made
        for token in set(tokens):
            assert said.ru.count(token) == said.en.count(token), (made, token)
            if token in said.ru:
                shown.add((made.split("(")[0], _param(token)))
    # every parameter that is a value (not a choice of wording) is shown by some choice
    offered = {(made.split("(")[0], _param(t)) for made, _, tokens in seen for t in tokens}
    assert offered <= shown


def test_a_message_is_its_russian_text_with_the_twin_alongside() -> None:
    said = msg.msg_tag_found("v1.2.3")
    assert said == "✅ Тег v1.2.3 найден и готов к использованию"  # as the log writes it
    assert f"{said}" == said.ru == said.text("ru") and type(said.ru) is str
    assert said.text("en") == said.en == "✅ Tag v1.2.3 found and ready to use"
    assert LANGUAGES == ("ru", "en")
    assert copy.deepcopy(said).same_as(said)  # a copy keeps the twin
    assert not said.same_as(Message(said.ru, "other"))
    with pytest.raises(AttributeError):
        said.en = "changed"  # type: ignore[misc]
    upper = said.map(str.upper)
    assert (upper.ru, upper.en) == (said.ru.upper(), said.en.upper())
    assert Message.plain("host x: step y failed").en == "host x: step y failed"
    assert msg.msg_error("boom").same_as(Message("❌ boom", "❌ boom"))
    assert msg.msg_error(msg.msg_health_failed(3)).same_as(msg.msg_health_failed(3))


def test_the_errors_that_are_seed_messages_say_exactly_their_russian_text() -> None:
    # the engine shows the twin of a host's error only where the texts are equal
    assert str(TagNotFound("v1.2.3")) == msg.msg_tag_not_found("v1.2.3").ru
    assert str(BranchNotFound("feature/x")) == msg.msg_branch_not_found("feature/x").ru


def test_the_log_file_gets_the_russian_progress_both_texts_redacted(tmp_path: Path) -> None:
    heard: list[tuple[str, str]] = []
    said: list[tuple[str, Message]] = []
    log = DeployLog(
        tmp_path / "x.log",
        Redactor(["s3cret-value"]),
        on_message=lambda host, text: heard.append((host, text)),
        on_said=lambda host, message: said.append((host, message)),
    )
    log.message(Message("🔒 ключ s3cret-value", "🔒 key s3cret-value\nleaked"), "web1")
    log.message(msg.MSG_FETCHING)  # not about one host: nobody told
    log.close()
    text = (tmp_path / "x.log").read_text(encoding="utf-8")
    assert text.splitlines()[0].endswith(" - 🔒 ключ ***")
    assert "key" not in text and "Fetching" not in text and "s3cret" not in text
    assert heard == [("web1", "🔒 ключ ***")]
    assert [(host, m.ru, m.en) for host, m in said] == [
        ("web1", "🔒 ключ ***", "🔒 key *** leaked")
    ]


def test_progress_reports_carry_both_texts_redacted() -> None:
    seen: list[Progress] = []
    progress = HostProgress(
        seen.append,
        "web1",
        kind="deploy",
        ref="v1.2.3",
        ref_type="tag",
        redactor=Redactor(["hunter2-secret"]),
    )
    progress.step("fetch", msg.MSG_FETCHING)
    progress.say(msg.MSG_FETCHING)  # the same message again: not reported twice
    progress.say(Message("пароль hunter2-secret", "password hunter2-secret"))
    progress.say("host output hunter2-secret")  # the same in both languages
    progress.finish(True, msg.msg_success("v1.2.3", "deploy"))
    assert [(p.text("ru"), p.text("en")) for p in seen] == [
        (msg.MSG_FETCHING.ru, msg.MSG_FETCHING.en),
        ("пароль ***", "password ***"),
        ("host output ***", "host output ***"),
        (msg.msg_success("v1.2.3", "deploy").ru, msg.msg_success("v1.2.3", "deploy").en),
    ]
    assert seen[0].message == msg.MSG_FETCHING.ru  # the seed text, as before
    assert seen[2].message_en is None  # no twin: one text for both
    assert progress.message == msg.msg_success("v1.2.3", "deploy").ru


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_live_table_shows_the_chosen_language(language: msg.Language) -> None:
    view = ProgressView("deploying hello v1.2.3 to stage", language=language)
    said = msg.msg_health_attempt(1, 3)
    view.update(Progress("web1", "health", said.ru, 1.0, ref="v1.2.3", message_en=said.en))
    view.update(Progress("web2", "fetch", "│ git: fatal", 1.0, ref="v1.2.3"))
    latest = [str(cell) for cell in view.table().columns[-1].cells]
    assert latest == [said.text(language), "│ git: fatal"]


def _settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Callable[[], Any]:
    """Loads the settings from exactly ``env`` (no other RELMAN_/LOOM_ variable, no .env)."""
    for key in [k for k in os.environ if k.startswith(("RELMAN_", "LOOM_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return lambda: load_settings(_env_file=None)


def test_relman_language_is_en_by_default_ru_on_request_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _settings_with(monkeypatch)().language == "en"
    assert _settings_with(monkeypatch, RELMAN_LANGUAGE="ru")().language == "ru"
    with pytest.raises(ConfigError) as info:
        _settings_with(monkeypatch, RELMAN_LANGUAGE="de")()
    assert str(info.value) == "setting RELMAN_LANGUAGE: Input should be 'ru' or 'en'"
