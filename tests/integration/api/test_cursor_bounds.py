"""A page cursor is opaque, but a forged one must be a 422 naming ``cursor``: an id past
the database's range once overflowed SQLite's integer (a 500 and a reset connection)."""

from __future__ import annotations

import base64

import httpx
import pytest

from relman.domain.errors import InvalidInput
from relman.domain.release import MAX_RELEASE_ID
from relman.services.releases import decode_cursor, encode_cursor
from tests.conftest import PREFIX


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


FORGED = [
    _cursor("r:" + "9" * 70),  # past every integer column
    _cursor(f"r:{MAX_RELEASE_ID + 1}"),
    _cursor("r:0"),
    _cursor("r:\u0663"),  # an Arabic-Indic digit: str.isdigit() says yes
    _cursor("x:12"),
]


@pytest.mark.parametrize("cursor", FORGED)
def test_a_forged_cursor_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_cursor(cursor)
    assert refused.value.details["field"] == "cursor"


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(MAX_RELEASE_ID)) == MAX_RELEASE_ID


@pytest.mark.parametrize("cursor", FORGED)
async def test_the_api_answers_a_forged_cursor_with_422(
    api: httpx.AsyncClient, cursor: str
) -> None:
    response = await api.get(f"{PREFIX}/releases", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["field"] == "cursor"
