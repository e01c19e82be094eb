"""Hostile bodies and text on the real Release API (issue 15 items 2 and 4).

A body that is not UTF-8, not JSON, nested too deep or of the wrong shape is a 422 naming
``body`` and where (never a 5xx, a 400 ``http_error`` or a character offset as the field);
a control or invisible character in a name, an identity or a tag is a 422 naming the
field, and nothing is written — so an audit row never holds an invisible actor.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from relman.bootstrap import Container
from relman.config import Settings
from relman.store.tables import release_events, releases
from tests.conftest import OPERATOR_SECRET
from tests.support.api import PREFIX, create_release, release_body

OPERATOR = {"Authorization": f"Bearer {OPERATOR_SECRET}"}
JSON = {"content-type": "application/json"}
DEEP = b"[" * 30000 + b"]" * 30000


@pytest.fixture(autouse=True)
def qa_policy(settings: Settings) -> None:
    settings.config_file.write_text('[policy]\nqa = ["tg:77"]\n', encoding="utf-8")


async def row_counts(container: Container) -> tuple[int, int]:
    async with container.engine.connect() as conn:
        n_releases = (await conn.execute(select(func.count()).select_from(releases))).scalar()
        n_events = (await conn.execute(select(func.count()).select_from(release_events))).scalar()
    return int(n_releases or 0), int(n_events or 0)


# (raw body, the reason in the message, position, line, column)
BAD_BODIES: list[tuple[bytes, str, int, int, int]] = [
    (DEEP, "nested deeper than 64 levels", 64, 1, 65),
    (b'{"deep": ' + b"{" * 100 + b"}" * 100 + b"}", "nested deeper than 64 levels", 72, 1, 73),
    (b'{"release_id": 1,', "Expecting property name enclosed in double quotes", 17, 1, 18),
    (b'{\n  "release_id": 1,\n  "status": }', "Expecting value", 33, 3, 13),
    (b"\xff\xfe{}", "not UTF-8 (invalid start byte at byte 0)", 0, 1, 1),
    (b'{"service_name": "caf\xe9"}', "not UTF-8 (invalid continuation byte at byte 21)", 21, 1, 22),
    ('{"a": 1}'.encode("utf-16"), "not UTF-8 (invalid start byte at byte 0)", 0, 1, 1),
    (b'{"release_id": NaN}', "NaN is not a JSON value", 15, 1, 16),
    (b'{"release_id": -Infinity}', "-Infinity is not a JSON value", 15, 1, 16),
    (b'{"release_id": ' + b"9" * 5000 + b"}", "a number longer than 4300 digits", 15, 1, 16),
]


@pytest.mark.parametrize(("raw", "reason", "position", "line", "column"), BAD_BODIES)
@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/release", {}),
        ("PATCH", "/release", {}),
        ("PATCH", "/release/1", {}),
        ("POST", "/release/1/approve", OPERATOR),
    ],
)
async def test_a_body_that_is_not_json_is_422_naming_body_and_where(
    api: httpx.AsyncClient,
    container: Container,
    method: str,
    path: str,
    headers: dict[str, str],
    raw: bytes,
    reason: str,
    position: int,
    line: int,
    column: int,
) -> None:
    response = await api.request(method, PREFIX + path, content=raw, headers={**JSON, **headers})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["field"] == "body"
    assert (body["position"], body["line"], body["column"]) == (position, line, column)
    assert body["message"] == f"body: invalid JSON at line {line}, column {column}: {reason}"
    assert await row_counts(container) == (0, 0)


async def test_the_field_is_never_a_character_offset(api: httpx.AsyncClient) -> None:
    # Issue 15's example: FastAPI's json_invalid loc is ["body", 22].
    response = await api.post(f"{PREFIX}/release", content=b'{"service_name": "x", ]', headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body"
    assert response.json()["problems"] == [{"field": "body", "message": response.json()["message"]}]


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"[1, 2]", "application/json"),
        (b'"a string"', "application/json"),
        (b"null", "application/json"),
        (b"", "application/json"),
        (b"service_name=x", "application/x-www-form-urlencoded"),
    ],
)
async def test_a_body_of_the_wrong_shape_is_422_naming_body(
    api: httpx.AsyncClient, container: Container, raw: bytes, content_type: str
) -> None:
    response = await api.post(
        f"{PREFIX}/release", content=raw, headers={"content-type": content_type}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body"
    assert response.json()["message"].startswith("body: ")
    assert await row_counts(container) == (0, 0)


async def test_a_utf8_byte_order_mark_is_ignored(api: httpx.AsyncClient) -> None:
    # RFC 8259 §8.1: a parser may ignore it; clients that add one keep working.
    raw = b"\xef\xbb\xbf" + json.dumps(release_body()).encode()
    response = await api.post(f"{PREFIX}/release", content=raw, headers=JSON)
    assert response.status_code == 201, response.text


# --- control and invisible characters (item 4) -------------------------------------------

BAD_TEXT_CREATES: list[tuple[dict[str, Any], str, str]] = [
    (release_body(initiated_by="\u000b"), "initiated_by", "control character U+000B (VT)"),
    (release_body(initiated_by="dev\x00"), "initiated_by", "U+0000 (NUL) at character 4"),
    (release_body(initiated_by="dev\n3"), "initiated_by", "U+000A (LF) at character 4"),
    (release_body(initiated_by="\u200b"), "initiated_by", "U+200B (ZERO WIDTH SPACE)"),
    (release_body(initiated_by="dev\u202e3"), "initiated_by", "RIGHT-TO-LEFT OVERRIDE"),
    (release_body(initiated_by="   "), "initiated_by", "must not be empty or white space"),
    # A lone surrogate (valid JSON, no UTF-8 column stores it): pydantic refuses it itself.
    (release_body(initiated_by="\ud800"), "initiated_by", "valid string"),
    (release_body(service_name="loom\ncontent"), "service_name", "U+000A (LF)"),
    (release_body(service_name="loom\x1b[2Kcontent"), "service_name", "U+001B (ESC)"),
    (release_body(service_name="loom\u2028"), "service_name", "LINE SEPARATOR"),
    (release_body(github_run_id="90\t01"), "github_run_id", "U+0009 (HT)"),
    (release_body(github_action_link="https://x/\x7f"), "github_action_link", "U+007F (DEL)"),
    (release_body(github_ref="refs/tags/v1.2.3\r"), "github_ref", "U+000D (CR)"),
    (release_body(release_tag="v1.2.3\x85"), "release_tag", "U+0085"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_TEXT_CREATES)
async def test_a_control_character_in_a_name_is_422_naming_the_field(
    api: httpx.AsyncClient, container: Container, body: dict[str, Any], field: str, message: str
) -> None:
    # json.dumps escapes every non-ASCII character (\\u000b, \\ud800), as a client may send.
    raw = json.dumps(body).encode()
    response = await api.post(f"{PREFIX}/release", content=raw, headers=JSON)
    assert response.status_code == 422, response.text
    data = response.json()
    assert data["error"] == "invalid_input"
    assert data["field"] == field
    assert data["message"].startswith(f"{field}: "), data
    assert message in data["message"], data
    assert await row_counts(container) == (0, 0)


async def test_free_text_keeps_new_lines_and_tabs_but_no_other_control(
    api: httpx.AsyncClient, container: Container
) -> None:
    rid = (await create_release(api))["id"]
    before = await row_counts(container)
    for body, field in [
        ({"status": "building", "note": "step 1\r\nstep 2"}, "note"),
        ({"status": "building", "note": "\x1b[31mred"}, "note"),
        ({"status": "building", "note": "a\u202eb"}, "note"),
        ({"status": "building", "actor": "gh:ci\u000b"}, "actor"),
        ({"status": "building", "actor": " "}, "actor"),
        ({"status": "rollback", "rollback_to_tag": "v1.0.0\x00"}, "rollback_to_tag"),
    ]:
        response = await api.patch(f"{PREFIX}/release/{rid}", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, response.text
    assert await row_counts(container) == before

    note = "built\n\tstep 1: ok\n\tstep 2: ok 👩‍💻"
    ok = await api.patch(f"{PREFIX}/release/{rid}", json={"status": "building", "note": note})
    assert ok.status_code == 200, ok.text
    events = (await api.get(f"{PREFIX}/release/{rid}")).json()["events"]
    assert events[-1]["note"] == note


async def test_decisions_refuse_invisible_actors_and_control_characters_in_reasons(
    api: httpx.AsyncClient, container: Container
) -> None:
    rid = (await create_release(api))["id"]
    before = await row_counts(container)
    for path, body, field in [
        (f"/release/{rid}/approve", {"actor": "tg:77\u000b"}, "actor"),
        (f"/release/{rid}/approve", {"actor": "tg:\u200b77"}, "actor"),
        (f"/release/{rid}/reject", {"actor": "tg:77", "reason": "bad\x00"}, "reason"),
        (f"/release/{rid}/reject", {"actor": "tg:77", "reason": "bad\rgood"}, "reason"),
        (f"/release/{rid}/retry", {"actor": "gh:oleg\n"}, "actor"),
        ("/services/loom-content/rollback", {"actor": "gh:oleg", "to_tag": "v1\x0b"}, "to_tag"),
        ("/services/loom-content/rollback", {"actor": "gh:\x7foleg", "to_tag": "v1"}, "actor"),
        ("/services/loom%0Acontent/rollback", {"actor": "gh:oleg", "to_tag": "v1"}, "service"),
    ]:
        response = await api.post(PREFIX + path, json=body, headers=OPERATOR)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["field"] == field, response.text
    for query, field in [
        ("service=loom%0Bcontent", "service"),
        ("service=%E2%80%8B", "service"),
        ("cursor=%00", "cursor"),
    ]:
        response = await api.get(f"{PREFIX}/releases?{query}")
        assert response.status_code == 422, (query, response.text)
        assert response.json()["field"] == field, response.text
    assert await row_counts(container) == before


# --- query and path parameters: the same words as a body field, for every route ----------


@pytest.mark.parametrize(
    ("method", "url", "field", "message"),
    [
        ("GET", "/releases?service=hel%00lo", "service", "U+0000 (NUL) at character 4"),
        ("GET", "/releases?cursor=%E2%80%8B", "cursor", "U+200B (ZERO WIDTH SPACE)"),
        ("GET", "/dora?service=hel%00lo", "service", "U+0000 (NUL) at character 4"),
        ("GET", "/incidents?service=%0Bx", "service", "U+000B (VT) at character 1"),
        ("POST", "/services/hel%00lo/rollback", "service", "U+0000 (NUL) at character 4"),
    ],
)
async def test_a_control_character_in_a_parameter_is_refused_in_plain_words(
    api: httpx.AsyncClient, method: str, url: str, field: str, message: str
) -> None:
    body = {"actor": "gh:oleg", "to_tag": "v1.0.0"} if method == "POST" else None
    response = await api.request(method, PREFIX + url, json=body, headers=OPERATOR)
    assert response.status_code == 422, response.text
    data = response.json()
    assert data["field"] == field, data
    # As a body field says it (no "Value error, " from pydantic in between).
    assert data["message"].startswith(f"{field}: must not contain the "), data
    assert message in data["message"], data
    assert data["problems"] == [{"field": field, "message": data["message"][len(field) + 2 :]}]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/dora?days=abc", "days"),
        ("/dora?days=0", "days"),
        ("/dora?days=-3", "days"),
        ("/dora?days=1.5", "days"),
        ("/dora?days=3651", "days"),
        ("/dora?days=" + "9" * 40, "days"),
        ("/dora?service=" + "s" * 201, "service"),
        ("/incidents?status=closed", "status"),
        ("/incidents?limit=0", "limit"),
        ("/incidents?limit=abc", "limit"),
        ("/incidents/0", "incident_id"),
        ("/incidents/-1", "incident_id"),
        ("/incidents/abc", "incident_id"),
        ("/incidents/" + "9" * 30, "incident_id"),
    ],
)
async def test_analytics_and_incident_parameters_are_422_naming_the_field(
    api: httpx.AsyncClient, url: str, field: str
) -> None:
    response = await api.get(PREFIX + url)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.text


@pytest.mark.parametrize(
    ("raw", "content_type", "field"),
    [
        (b"[1, 2]", "application/json", "body"),
        (b"actor=tg:77&text=x", "application/x-www-form-urlencoded", "body"),
        (b'{"actor": "tg:77", "text": "x"}', "text/plain", "body"),
        (b'{"actor": "tg:77", "text": "x", "extra": 1}', "application/json", "extra"),
        (b'{"actor": "tg:77", "text": "x", "kind": "other"}', "application/json", "kind"),
        (b'{"actor": "tg:77", "text": "a\\u0000b"}', "application/json", "text"),
        (b'{"actor": "tg:77", "text": 5}', "application/json", "text"),
        (b'{"actor": "tg:77", "text": "' + b"x" * 4001 + b'"}', "application/json", "text"),
    ],
)
async def test_an_incident_note_of_the_wrong_shape_is_422_naming_the_field(
    api: httpx.AsyncClient, raw: bytes, content_type: str, field: str
) -> None:
    headers = {**OPERATOR, "content-type": content_type}
    response = await api.post(f"{PREFIX}/incidents/1/note", content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.text
