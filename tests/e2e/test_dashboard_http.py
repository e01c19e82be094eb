"""The web dashboard over HTTP (issue 13), without a browser: sign-in links and sessions,
CSRF, refusals audited with source ``web``, 404 pages, languages, the offline API docs.

The real app, database and pipeline over an in-process ASGI transport; the browser tests
(``test_dashboard_browser.py``) drive the same pages in Chromium.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from relman.api.app import create_app
from relman.bootstrap import Container, build
from relman.config import Environment, HealthCheck, Host, Policy, RelmanConfig, Service
from relman.domain.clock import utcnow
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.store.deployments import DeploymentStore
from relman.web.signin import SESSION_COOKIE, SignIn
from tests.conftest import make_settings
from tests.support.pipeline import CI, new_release, walk_to_manual_testing, write_config

QA = "tg:111"
NOBODY = "tg:333"
POLICY = Policy(qa=[QA], releaser=["tg:222"])


@pytest.fixture
async def web_container(database_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    # A configured service whose environments CI deploys (executor github): releases move
    # by reports, no worker needed here.
    config = RelmanConfig(
        services={
            "hello": Service(
                repo="https://example.invalid/hello.git",
                workdir="{root}/h",
                start_command=["true"],
                health=HealthCheck(url="http://{address}:1/health"),
            )
        },
        hosts={
            "box": Host(transport="local", root=str(tmp_path / "box")),
            "stage-box": Host(transport="local", root=str(tmp_path / "stage-box")),
        },
        environments={
            "stage": Environment(hosts=["stage-box"], executor="github"),
            "production": Environment(hosts=["box"], executor="github"),
        },
        policy=POLICY,
    )
    write_config(tmp_path / "relman.toml", config)
    container = build(make_settings(database_url, tmp_path))
    yield container
    await container.aclose()


@pytest.fixture
async def web(web_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(web_container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relman.test"
    ) as client:
        yield client


def signin(container: Container) -> SignIn:
    return SignIn(container.settings.require_secret(), container.seen)


async def sign_in(client: httpx.AsyncClient, container: Container, who: str) -> str:
    """Sign ``who`` in through a one-time link; returns the session's CSRF token."""
    link = signin(container).link("http://relman.test", who, "Tester", now=utcnow())
    page = await client.get(link)
    assert page.status_code == 200 and 'id="sign-in"' in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    done = await client.post("/login", data={"token": token.group(1)})
    assert done.status_code == 303, done.text
    home = await client.get("/")
    assert home.status_code == 200
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', home.text)
    assert csrf is not None
    return csrf.group(1)


async def in_manual_testing(container: Container, tag: str = "v1.0.0") -> int:
    release, _ = await container.pipeline.start_release(
        new_release(tag), actor=CI, source=Source.API
    )
    release = await walk_to_manual_testing(container, release)
    assert release.id is not None and release.status is ReleaseStatus.MANUAL_TESTING
    return release.id


async def test_nothing_is_readable_without_a_session(web: httpx.AsyncClient) -> None:
    for path in ("/", "/releases/1", "/environments", "/decisions", "/services/hello/rollback"):
        page = await web.get(path)
        assert page.status_code == 401, path
        assert "relman web login-link" in page.text and "/web" in page.text
    assert (await web.get("/releases/1/deploys/1/log")).status_code == 401
    refused = await web.post("/releases/1/approve", data={"csrf": "x"})
    assert refused.status_code == 401
    # the API keeps its bearer secrets and its JSON errors
    api = await web.get("/api/tg-bot/releases")
    assert api.status_code == 401 and api.json()["error"] == "unauthenticated"


async def test_sign_in_sets_a_safe_cookie_and_a_link_works_once(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    link = signin(web_container).link("http://relman.test", QA, "Anna", now=utcnow())
    token = link.split("token=", 1)[1]
    shown = await web.get(link)
    assert "Anna (tg:111)" in shown.text  # a GET (a chat's link preview) does not use it up
    first = await web.post("/login", data={"token": token})
    assert first.status_code == 303
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain http here
    web.cookies.clear()
    again = await web.post("/login", data={"token": token})
    assert again.status_code == 401 and "already used" in again.text
    assert SESSION_COOKIE not in again.headers.get("set-cookie", "")


async def test_secure_cookie_over_https(web_container: Container) -> None:
    app = create_app(web_container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://relman.test"
    ) as client:
        link = signin(web_container).link("https://relman.test", QA, now=utcnow())
        done = await client.post("/login", data={"token": link.split("token=", 1)[1]})
        assert "Secure" in done.headers["set-cookie"]


async def test_expired_tampered_and_foreign_links_are_refused(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    old = signin(web_container).link(
        "http://relman.test", QA, now=utcnow() - timedelta(minutes=5, seconds=1)
    )
    expired = await web.get(old)
    assert expired.status_code == 401 and "expired" in expired.text
    posted = await web.post("/login", data={"token": old.split("token=", 1)[1]})
    assert posted.status_code == 401 and "expired" in posted.text
    fresh = signin(web_container).link("http://relman.test", QA, now=utcnow())
    tampered = fresh[:-3] + ("aaa" if not fresh.endswith("aaa") else "bbb")
    assert "not valid" in (await web.get(tampered)).text
    other = SignIn("another-relman-secret", web_container.seen).link(
        "http://relman.test", QA, now=utcnow()
    )
    assert "not valid" in (await web.get(other)).text


async def test_tampered_or_expired_session_shows_the_sign_in_page(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    await sign_in(web, web_container, QA)
    value = web.cookies[SESSION_COOKIE]
    web.cookies.set(SESSION_COOKIE, value[:-2] + ("xy" if not value.endswith("xy") else "zz"))
    assert (await web.get("/")).status_code == 401
    expired = signin(web_container).cookie(
        await signin(web_container).redeem(
            signin(web_container)
            .link("http://x", QA, now=utcnow() - timedelta(hours=13))
            .split("token=")[1],
            now=utcnow() - timedelta(hours=13),
        )
    )
    web.cookies.set(SESSION_COOKIE, expired)
    assert (await web.get("/")).status_code == 401


async def test_post_without_csrf_is_refused_and_writes_nothing(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    release_id = await in_manual_testing(web_container)
    csrf = await sign_in(web, web_container, QA)
    before = await web_container.releases.get(release_id)
    for data in ({}, {"csrf": "0" * 64}):
        refused = await web.post(f"/releases/{release_id}/approve", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    after = await web_container.releases.get(release_id)
    assert after.status is ReleaseStatus.MANUAL_TESTING and after.events == before.events
    # with the token it goes through the pipeline, audited with source web
    done = await web.post(f"/releases/{release_id}/approve", data={"csrf": csrf})
    assert done.status_code == 303
    approved = await web_container.releases.get(release_id)
    assert approved.status is ReleaseStatus.MANUAL_TEST_PASSED
    last = approved.events[-1]
    assert last.source is Source.WEB and last.actor == "tg:111 (Tester)"
    # the header works as well as the form field (htmx sends it)
    again = await web.post(f"/releases/{release_id}/approve", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409 and "ничего не записано" in again.text


async def test_no_role_no_button_and_the_post_is_refused_and_audited(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    release_id = await in_manual_testing(web_container)
    csrf = await sign_in(web, web_container, NOBODY)
    page = await web.get(f"/releases/{release_id}")
    assert page.status_code == 200 and 'id="approve"' not in page.text
    assert 'id="reject"' not in page.text
    refused = await web.post(f"/releases/{release_id}/approve", data={"csrf": csrf})
    assert refused.status_code == 403 and "needs role" in refused.text
    rejected = await web.post(
        f"/releases/{release_id}/reject", data={"csrf": csrf, "reason": "looks bad"}
    )
    assert rejected.status_code == 403
    release = await web_container.releases.get(release_id)
    assert release.status is ReleaseStatus.MANUAL_TESTING
    refusals = [e for e in release.events if e.kind == "refused"]
    assert [(e.source, e.actor.split(" ")[0]) for e in refusals] == [
        (Source.WEB, NOBODY),
        (Source.WEB, NOBODY),
    ]
    rollback = await web.post("/services/hello/rollback", data={"csrf": csrf, "to_tag": "v0.9.0"})
    assert rollback.status_code == 404  # nothing in production to roll back


async def test_qa_rejects_with_a_reason(web: httpx.AsyncClient, web_container: Container) -> None:
    release_id = await in_manual_testing(web_container)
    csrf = await sign_in(web, web_container, QA)
    page = await web.get(f"/releases/{release_id}")
    assert 'id="approve"' in page.text and 'id="reject"' in page.text
    done = await web.post(
        f"/releases/{release_id}/reject", data={"csrf": csrf, "reason": "login is broken"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=rejected")
    release = await web_container.releases.get(release_id)
    assert release.status is ReleaseStatus.MANUAL_TEST_FAILED
    assert release.events[-1].note == "rejected: login is broken"
    assert release.events[-1].source is Source.WEB


async def test_an_emergency_release_shows_why_testing_was_skipped(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    reason = "payments are down <script>alert(1)</script>"
    new = dataclasses.replace(new_release("v1.0.1"), emergency=True, emergency_reason=reason)
    release, _ = await web_container.releases.create(new, source=Source.API)
    await sign_in(web, web_container, QA)
    page = await web.get(f"/releases/{release.id}")
    assert page.status_code == 200
    shown = re.search(r'<div class="flash bad" role="note" id="emergency">([^<]*)</div>', page.text)
    assert shown is not None, page.text
    assert shown.group(1) == (
        "⚠️ Принудительный релиз, без ручного тестирования: "
        "payments are down &lt;script&gt;alert(1)&lt;/script&gt;"
    )
    ordinary = await in_manual_testing(web_container)
    assert 'id="emergency"' not in (await web.get(f"/releases/{ordinary}")).text


async def test_unknown_release_is_a_404_page(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    await sign_in(web, web_container, QA)
    for path in ("/releases/999", "/releases/abc", "/releases/99999999999", "/nope"):
        page = await web.get(path)
        assert page.status_code == 404, path
        assert "<html" in page.text


async def test_evidence_paths_stay_inside_the_deploys_folder(
    web: httpx.AsyncClient, web_container: Container, tmp_path: Path
) -> None:
    release_id = await in_manual_testing(web_container)
    folder = tmp_path / "evidence" / "hello" / "stage" / "v1.0.0-1"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("{}", encoding="utf-8")
    (tmp_path / "evidence" / "secret.txt").write_text("not evidence", encoding="utf-8")
    store = DeploymentStore(web_container.engine)
    at = utcnow()
    deployment = await store.start(
        release_id=release_id,
        service="hello",
        environment="stage",
        tag="v1.0.0",
        kind="deploy",
        actor="relman",
        hosts=["box"],
        at=at,
    )
    await store.finish(deployment, ok=True, at=at, evidence_path=str(folder))
    await sign_in(web, web_container, QA)
    base = f"/releases/{release_id}/deploys/{deployment}/evidence"
    assert (await web.get(f"{base}/summary.json")).content == b"{}"
    # encoded, so the client does not resolve the dots itself and the route gets them
    for name in ("%2e%2e/%2e%2e/%2e%2e/secret.txt", "..%2f..%2f..%2fsecret.txt", "%2fetc%2fpasswd"):
        refused = await web.get(f"{base}/{name}")
        assert refused.status_code == 404, name
        assert "has no evidence file" in refused.text and "not evidence" not in refused.text


async def test_language_follows_accept_language(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    await in_manual_testing(web_container)
    await sign_in(web, web_container, QA)
    ru = await web.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert "Релизы" in ru.text and "🧪 Ручное тестирование" in ru.text
    en = await web.get("/", headers={"Accept-Language": "de-DE, en-US;q=0.8, ru;q=0.5"})
    assert "Releases" in en.text and "🧪 Manual testing" in en.text
    default = await web.get("/", headers={"Accept-Language": "fr"})
    assert 'lang="ru"' in default.text  # the setting (RELMAN_TELEGRAM_LANGUAGE) decides


async def test_releases_filters_and_cursor_pages(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    for n in range(55):
        await web_container.pipeline.start_release(
            new_release(f"v1.0.{n}"), actor=CI, source=Source.API
        )
    await sign_in(web, web_container, QA)
    first = await web.get("/")
    assert first.text.count('class="tag"') == 50 and "v1.0.54" in first.text
    older = re.search(r'id="older" href="([^"]+)"', first.text)
    assert older is not None
    second = await web.get(older.group(1).replace("&amp;", "&"))
    assert "v1.0.4<" in second.text and "v1.0.54" not in second.text
    assert 'id="older"' not in second.text
    failed = await web.get("/", params={"group": "failed"})
    assert "v1.0.1<" not in failed.text
    bad = await web.get("/", params={"cursor": "forged"})
    assert bad.status_code == 422


async def test_bad_filters_and_forms_are_4xx_pages_naming_the_field(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    release_id = await in_manual_testing(web_container)
    csrf = await sign_in(web, web_container, QA)
    for params, field in (({"group": "bogus"}, "group"), ({"status": "bogus"}, "status")):
        page = await web.get("/", params={**params, "service": "hello"})
        assert page.status_code == 422, params
        assert f"{field}: unknown {field} " in page.text.replace("&#39;", "'"), params
    # more form fields than a form of ours has: refused, not a server error
    crowded = {f"f{n}": "1" for n in range(30)}
    approve = await web.post(f"/releases/{release_id}/approve", data={"csrf": csrf, **crowded})
    assert approve.status_code == 422 and "form: at most 20 fields" in approve.text
    login = await web.post("/login", data=crowded)
    assert login.status_code == 422 and "form: at most 20 fields" in login.text
    assert (await web_container.releases.get(release_id)).status is ReleaseStatus.MANUAL_TESTING


async def test_api_docs_are_served_offline(web: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await web.get(path)
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/static/") for u in urls), urls
        assert "cdn" not in page.text and "googleapis" not in page.text
        for url in urls:
            asset = await web.get(url)
            assert asset.status_code == 200 and len(asset.content) > 200, url
    assert (await web.get("/openapi.json")).json()["info"]["title"] == "relman Release API"
    htmx = await web.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and b"htmx" in htmx.content


async def test_pages_carry_a_strict_content_security_policy(
    web: httpx.AsyncClient, web_container: Container
) -> None:
    await sign_in(web, web_container, QA)
    page = await web.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert "<script>" not in page.text and "style=" not in page.text
