"""``relman ci`` authenticating with a GitHub Actions OIDC token: reading the runner's
variables, fetching the token from a local stand-in for the runner's endpoint (real HTTP),
sending it to the API instead of the secret, and failing clearly when no token comes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from relman.ci.client import ApiUnreachable, OidcTokenError, ReleaseApiClient, RetryPolicy
from relman.ci.github_env import ApiSettings, OidcRequest, api_settings, oidc_request
from relman.domain.errors import ConfigError
from tests.support.github_double import OidcIssuerDouble
from tests.unit.ci.oidc_doubles import REQUEST_TOKEN, RecordingApi, RunnerTokenEndpoint

AUDIENCE = "https://relman.example/ci"
SECRET = "unit-secret-Qw3"


def runner_env(request_url: str, **extra: str) -> dict[str, str]:
    return {
        "RELMAN_API_URL": "http://relman:8000/api/tg-bot",
        "ACTIONS_ID_TOKEN_REQUEST_URL": request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        "RELMAN_OIDC_AUDIENCE": AUDIENCE,
        **extra,
    }


class Waits:
    """A sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def issuer() -> OidcIssuerDouble:
    return OidcIssuerDouble(AUDIENCE)  # only mints here; its JWKS server is not needed


@pytest.fixture
def endpoint(issuer: OidcIssuerDouble) -> Iterator[RunnerTokenEndpoint]:
    with RunnerTokenEndpoint(issuer) as server:
        yield server


@pytest.fixture
def api() -> Iterator[RecordingApi]:
    with RecordingApi() as server:
        yield server


def oidc_settings(
    api: RecordingApi, request_url: str, *, request_token: str = REQUEST_TOKEN
) -> ApiSettings:
    return ApiSettings(
        url=f"{api.url}/api/tg-bot",
        url_var="RELMAN_API_URL",
        secret=None,
        secret_var="LOOM_INTERSERVER_SECRET_KEY",
        timeout=5.0,
        oidc=OidcRequest(request_url=request_url, request_token=request_token, audience=AUDIENCE),
    )


def make_client(settings: ApiSettings, waits: Waits, **kwargs: Any) -> ReleaseApiClient:
    return ReleaseApiClient(
        settings,
        retry=RetryPolicy(attempts=3, first_delay=0.5, factor=2.0),
        sleep=waits,
        **kwargs,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the environment -------------------------------------------------------------------


def test_the_runners_variables_and_the_audience_make_an_oidc_request_and_no_secret_is_needed() -> (
    None
):
    api = api_settings(runner_env("https://pipelines.example/idtoken?api-version=2.0"))
    assert api.secret is None and api.oidc is not None
    assert api.oidc.audience == AUDIENCE
    # URL-encoded and appended to the query GitHub's URL already has
    assert api.oidc.token_url == (
        "https://pipelines.example/idtoken?api-version=2.0&audience=https%3A%2F%2Frelman.example%2Fci"
    )
    assert api.oidc.where == "https://pipelines.example"
    assert REQUEST_TOKEN not in repr(api)
    assert "RELMAN_OIDC_AUDIENCE" in api.credential_hint


def test_a_request_url_without_a_query_gets_one() -> None:
    oidc = OidcRequest("http://runner:1/idtoken", "t", "a b&c")
    assert oidc.token_url == "http://runner:1/idtoken?audience=a%20b%26c"


def test_with_the_secret_too_oidc_is_preferred_and_the_secret_kept() -> None:
    api = api_settings(runner_env("https://runner/idtoken?x=1", RELMAN_SECRET_KEY=SECRET))
    assert api.oidc is not None and api.secret == SECRET


@pytest.mark.parametrize(
    "missing",
    ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "RELMAN_OIDC_AUDIENCE"],
)
def test_without_all_three_variables_the_secret_is_used(missing: str) -> None:
    env = runner_env("https://runner/idtoken?x=1", RELMAN_SECRET_KEY=SECRET)
    env[missing] = ""
    api = api_settings(env)
    assert (api.oidc, api.secret, api.credential_hint) == (None, SECRET, "RELMAN_SECRET_KEY")
    assert oidc_request(env) is None


@pytest.mark.parametrize(
    ("missing", "shown"),
    [
        ("RELMAN_OIDC_AUDIENCE", "RELMAN_OIDC_AUDIENCE is not set"),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_URL is not set: the job needs permissions: id-token: write",
        ),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set: the job needs permissions: id-token:",
        ),
    ],
)
def test_neither_secret_nor_oidc_names_what_is_missing(missing: str, shown: str) -> None:
    env = runner_env("https://runner/idtoken?x=1")
    del env[missing]
    with pytest.raises(ConfigError) as caught:
        api_settings(env)
    message = str(caught.value)
    assert message.startswith("LOOM_INTERSERVER_SECRET_KEY (or RELMAN_SECRET_KEY) is not set")
    assert shown in message and REQUEST_TOKEN not in message and "\n" not in message


def test_a_request_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^ACTIONS_ID_TOKEN_REQUEST_URL: expected an http"):
        api_settings(runner_env("file:///etc/passwd"))


# --- the client ------------------------------------------------------------------------


async def test_the_token_is_fetched_once_at_the_first_request_and_sent_as_bearer(
    endpoint: RunnerTokenEndpoint, api: RecordingApi
) -> None:
    async with make_client(oidc_settings(api, endpoint.request_url), Waits()) as client:
        assert client.uses_oidc
        assert endpoint.seen == []  # lazily: nothing fetched before a request
        await client.get_release(7)
        await client.create_release(
            service_name="loom-content",
            release_tag="v1.2.3",
            initiated_by="octocat",
            github_run_id="9001",
            github_action_link="",
            github_ref="refs/tags/v1.2.3",
        )
        await client.report_status(7, "building")
    assert len(endpoint.seen) == 1 and endpoint.seen[0].status == 200
    assert endpoint.seen[0].authorization == f"Bearer {REQUEST_TOKEN}"
    assert endpoint.audiences == [AUDIENCE]
    (token,) = endpoint.minted
    assert [s.authorization for s in api.seen] == [f"Bearer {token}"] * 3
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == AUDIENCE and claims["actor"] == "octocat"


async def test_a_token_about_to_expire_is_replaced_before_the_next_request(
    issuer: OidcIssuerDouble, api: RecordingApi
) -> None:
    with RunnerTokenEndpoint(issuer, exp=int(time.time()) + 10) as endpoint:
        async with make_client(oidc_settings(api, endpoint.request_url), Waits()) as client:
            await client.get_release(7)
            await client.get_release(7)
    assert len(endpoint.minted) == 2
    assert [s.authorization for s in api.seen] == [f"Bearer {t}" for t in endpoint.minted]


async def test_a_refused_token_request_is_a_clear_error_and_nothing_reaches_the_api(
    endpoint: RunnerTokenEndpoint, api: RecordingApi
) -> None:
    settings = oidc_settings(api, endpoint.request_url, request_token="stale-request-token")
    waits = Waits()
    async with make_client(settings, waits) as client:
        with pytest.raises(OidcTokenError) as caught:
            await client.get_release(7)
    message = str(caught.value)
    assert message == (
        f"cannot get a GitHub OIDC token for audience {AUDIENCE!r} from "
        f"ACTIONS_ID_TOKEN_REQUEST_URL ({endpoint.url}): 401 Unauthorized: Bad credentials"
    )
    assert caught.value.exit_code == 1
    assert "stale-request-token" not in message
    assert len(endpoint.seen) == 1 and waits.delays == []  # an HTTP answer is not retried
    assert api.seen == []


async def test_an_answer_without_a_value_is_a_clear_error(
    endpoint: RunnerTokenEndpoint, api: RecordingApi
) -> None:
    # The recording API answers a release, not {"value": …}: use it as a wrong endpoint.
    settings = oidc_settings(api, f"{api.url}/idtoken?api-version=2.0")
    async with make_client(settings, Waits()) as client:
        with pytest.raises(OidcTokenError, match=r"answered 200 without a token"):
            await client.get_release(7)


async def test_an_unreachable_token_endpoint_is_retried_with_the_backoff_then_fails(
    api: RecordingApi,
) -> None:
    port = free_port()
    waits = Waits()
    notices: list[str] = []
    settings = oidc_settings(api, f"http://127.0.0.1:{port}/idtoken?api-version=2.0")
    async with make_client(settings, waits, on_retry=lambda n: notices.append(n.target)) as client:
        with pytest.raises(OidcTokenError) as caught:
            await client.get_release(7)
    assert not isinstance(caught.value, ApiUnreachable)
    assert waits.delays == [0.5, 1.0]
    assert notices == ["GitHub OIDC token endpoint"] * 2
    assert "no answer after 3 attempts: ConnectError" in str(caught.value)
    assert caught.value.exit_code == 1
    assert api.seen == []
