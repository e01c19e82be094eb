"""Which characters names, identities and notes may hold (relman.domain.text, issue 15 item
4): identifiers no control, format or separator character; free text new lines and tabs
but no other control character and no bidirectional override."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relman.domain.text import character_label, forbidden_character, text_problem


@pytest.mark.parametrize(
    ("value", "free_text", "problem"),
    [
        ("Dev3", False, None),
        ("loom-content v1.2.3 (Анна)", False, None),
        ("\u000b", False, "must not contain the control character U+000B (VT) at character 1"),
        ("a\x00", False, "must not contain the control character U+0000 (NUL) at character 2"),
        ("a\nb", False, "must not contain the control character U+000A (LF) at character 2"),
        (
            "\u200bdev",
            False,
            "must not contain the invisible formatting character U+200B (ZERO WIDTH SPACE) "
            "at character 1",
        ),
        ("line 1\n\tline 2 👩‍💻", True, None),
        (
            "a\r\nb",
            True,
            "must not contain the control character U+000D (CR) at character 2; new lines "
            "and tabs are allowed here",
        ),
        ("\x1b[2J", True, "U+001B (ESC) at character 1"),
        ("abc\u202edcba", True, "U+202E (RIGHT-TO-LEFT OVERRIDE) at character 4"),
        ("x\u2066y", True, "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
        ("x\u2029y", True, "U+2029 (PARAGRAPH SEPARATOR)"),
        ("\ud800", True, "must not contain the unpaired surrogate U+D800 at character 1"),
    ],
)
def test_the_rules(value: str, free_text: bool, problem: str | None) -> None:
    found = text_problem(value, free_text=free_text)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@given(st.text())
def test_an_accepted_identifier_holds_no_control_or_format_character(value: str) -> None:
    if forbidden_character(value) is None:
        assert all(unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Zl", "Zp"} for c in value)
    found = forbidden_character(value, free_text=True)
    if found is None:
        assert all(c in "\n\t" or unicodedata.category(c) != "Cc" for c in value)
    else:
        index, char = found
        assert value[index] == char


def test_labels_name_invisible_characters() -> None:
    assert character_label("\x00") == "U+0000 (NUL)"
    assert character_label("\x7f") == "U+007F (DEL)"
    assert character_label("\x85") == "U+0085"
    assert character_label("\u2028") == "U+2028 (LINE SEPARATOR)"
