"""``POST {prefix}/release`` with ``emergency: true`` (issue 14 item 3): a person's decision
relayed by the operator secret; the reason is mandatory; a refusal writes nothing; once CI
reports the stage deploy, manual testing is skipped."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import func, select

from relman.bootstrap import Container
from relman.config import Settings
from relman.store.tables import emergency_releases, releases
from tests.conftest import OPERATOR_SECRET
from tests.support.api import PREFIX, patch_status, release_body, release_detail

OPERATOR = {"Authorization": f"Bearer {OPERATOR_SECRET}"}
REASON = "checkout returns 500 for every card payment"


@pytest.fixture(autouse=True)
def policy(settings: Settings) -> None:
    settings.config_file.write_text(
        '[policy]\nadmin = ["gh:boss"]\nreleaser = ["gh:dev"]\nqa = ["tg:77"]\n', encoding="utf-8"
    )


async def _counts(container: Container) -> tuple[int, int]:
    async with container.engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(releases))).scalar()
        e = (await conn.execute(select(func.count()).select_from(emergency_releases))).scalar()
    return int(n or 0), int(e or 0)


async def test_bad_emergency_requests_are_refused_and_write_nothing(
    api: httpx.AsyncClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    no_reason = await api.post(
        f"{PREFIX}/release",
        json=release_body(initiated_by="boss", emergency=True, reason="  "),
        headers=OPERATOR,
    )
    assert no_reason.status_code == 422, no_reason.text
    assert no_reason.json()["field"] == "reason"

    with caplog.at_level(logging.WARNING, logger="relman.pipeline"):
        not_admin = await api.post(
            f"{PREFIX}/release",
            json=release_body(initiated_by="Dev", emergency=True, reason=REASON),
            headers=OPERATOR,
        )
    assert not_admin.status_code == 403, not_admin.text
    assert "gh:dev may not start an emergency release: needs role admin" in not_admin.text
    assert any(
        "refused: gh:dev asked for an emergency release of loom-content v1.2.3" in r.getMessage()
        for r in caplog.records
    )

    # CI credentials create releases, they never decide to skip QA.
    by_ci = await api.post(
        f"{PREFIX}/release", json=release_body(initiated_by="boss", emergency=True, reason=REASON)
    )
    assert by_ci.status_code == 403, by_ci.text
    assert await _counts(container) == (0, 0)


async def test_an_emergency_release_skips_manual_testing(
    api: httpx.AsyncClient, container: Container
) -> None:
    created = await api.post(
        f"{PREFIX}/release",
        json=release_body(initiated_by="boss", emergency=True, reason=REASON),
        headers=OPERATOR,
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.json()["emergency_reason"] == REASON
    assert await _counts(container) == (1, 1)

    for status in ("building", "stage_deploy"):
        assert (await patch_status(api, rid, status)).status_code == 200
    tested = await patch_status(api, rid, "manual_testing", note="on stage")
    assert tested.status_code == 200, tested.text
    assert tested.json()["status"] == "manual_test_passed"  # nobody was asked to test
    for status in ("deploying", "deployed"):
        assert (await patch_status(api, rid, status)).status_code == 200

    detail = await release_detail(api, rid)
    assert detail["emergency_reason"] == REASON
    notes = [(e["to_status"], e["actor"], e["note"]) for e in detail["events"]]
    assert notes[0] == (
        "initiated",
        "boss",
        f"⚠️ emergency release, manual testing skipped: {REASON}",
    )
    assert notes[4][:2] == ("manual_test_passed", "system")
    assert REASON in notes[4][2]
    assert [n[0] for n in notes][-2:] == ["deploying", "deployed"]

    # Ordinary releases stay ordinary.
    plain = await api.post(f"{PREFIX}/release", json=release_body(github_run_id="9002"))
    assert plain.status_code == 201 and plain.json()["emergency_reason"] == ""
