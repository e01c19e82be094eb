"""The one JSON body parser (relman.api.body.load_json, issue 15 item 2): any bytes give a
value or a JSONDecodeError that says what and where — never another exception (which the
API would answer 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from relman.api.body import MAX_JSON_DEPTH, load_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=300))
@example(b"[" * 30000)
@example(b"{" * 5000 + b"}" * 5000)
@example(b'"' + b'\\"' * 5000)
@example(b"1" * 5000)
@example(b"\xed\xa0\x80")  # a surrogate encoded as UTF-8: not UTF-8
def test_any_bytes_give_a_value_or_a_json_error(raw: bytes) -> None:
    refused: json.JSONDecodeError | None = None
    try:
        load_json(raw)
    except json.JSONDecodeError as exc:
        refused = exc
    if refused is not None:
        assert refused.msg
        assert 0 <= refused.pos <= len(refused.doc)


@given(json_values)
def test_json_round_trips(value: Any) -> None:
    assert load_json(json.dumps(value).encode()) == value
    assert load_json(json.dumps(value, ensure_ascii=False).encode()) == value


@pytest.mark.parametrize(
    ("raw", "msg", "pos"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, None, None),
        (b"[" * (MAX_JSON_DEPTH + 1), f"nested deeper than {MAX_JSON_DEPTH} levels", 64),
        (b'["[[[[", {"a": "}}}"}]', None, None),  # brackets in strings do not count
        (b'{"a": "\\"[[["}', None, None),
        (b"\xef\xbb\xbf[1]", None, None),
        (b"[1, \xc0]", "not UTF-8 (invalid start byte at byte 4)", 4),
        (b'["caf\xc3\xa9", \xff]', "not UTF-8 (invalid start byte at byte 10)", 9),
        (b"[Infinity]", "Infinity is not a JSON value", 1),
        (b'["NaN", NaN]', "NaN is not a JSON value", 8),
        (b"[" + b"7" * 4301 + b"]", "a number longer than 4300 digits", 1),
        (b'{"a": 1,}', "Expecting property name enclosed in double quotes", 8),
    ],
)
def test_what_is_refused_and_where(raw: bytes, msg: str | None, pos: int | None) -> None:
    if msg is None:
        load_json(raw)
        return
    with pytest.raises(json.JSONDecodeError) as caught:
        load_json(raw)
    assert (caught.value.msg, caught.value.pos) == (msg, pos)
