"""Pure rules of the API's CI identities: who may start which release, what looks like a
JWT, how a request is signed, which repositories are allowed, the CI settings."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from relman.api.ci_auth import allowed_repositories, check_release_start, hmac_signature
from relman.api.guard import Principal, looks_like_jwt
from relman.config import RelmanConfig, Settings
from relman.domain.errors import Unauthenticated
from relman.integrations.github import WorkflowDispatchRefused

CONFIG = RelmanConfig.model_validate(
    {
        "services": {
            name: {
                "repo": f"git@github.com:org/{name}.git",
                "workdir": f"/srv/{name}",
                "start_command": ["sh", "start.sh"],
                "health": {"url": "http://{address}:8004/health"},
                **({"github_repository": repo} if repo else {}),
            }
            for name, repo in [("api", "Org/API"), ("web", "org/web"), ("bare", None)]
        }
    }
)


def oidc(ref: str | None = "refs/tags/v1.2.3", repository: str = "org/api") -> Principal:
    return Principal(name="gh:octocat", method="oidc", kind="ci", repository=repository, ref=ref)


def test_a_tag_token_of_the_services_repository_may_start_its_release() -> None:
    check_release_start(oidc(), service="api", release_tag="v1.2.3", config=CONFIG)
    check_release_start(
        oidc("refs/tags/v2.0.0-rc.1"), service="api", release_tag="v2.0.0-rc.1", config=CONFIG
    )


@pytest.mark.parametrize(
    ("principal", "service", "tag", "message"),
    [
        (oidc("refs/heads/main"), "api", "v1.2.3", "ref not a version tag: the token's ref is"),
        (oidc("refs/tags/1.2.3"), "api", "v1.2.3", "ref not a version tag"),
        (oidc("refs/tags/v1.2"), "api", "v1.2", "ref not a version tag"),
        (oidc("refs/pull/3/merge"), "api", "v1.2.3", "ref not a version tag"),
        (oidc(None), "api", "v1.2.3", "ref not a version tag"),
        (oidc("v1.2.3"), "api", "v1.2.3", "ref not a version tag"),
        (oidc("refs/tags/v1.2.4"), "api", "v1.2.3", "ref does not match the release"),
        (oidc(repository="org/web"), "api", "v1.2.3", "repository not allowed for service 'api'"),
        (oidc(), "bare", "v1.2.3", "no github_repository"),
        (oidc(), "unknown", "v1.2.3", "no github_repository"),
    ],
)
def test_other_oidc_release_starts_are_refused(
    principal: Principal, service: str, tag: str, message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        check_release_start(principal, service=service, release_tag=tag, config=CONFIG)


@pytest.mark.parametrize(
    "principal",
    [
        Principal(name="ci", method="bearer"),
        Principal(name="ci:hmac", method="hmac", kind="ci"),
    ],
)
def test_the_rule_binds_oidc_tokens_only(principal: Principal) -> None:
    check_release_start(principal, service="bare", release_tag="v9.9.9", config=CONFIG)


def test_what_looks_like_a_jwt() -> None:
    assert looks_like_jwt("eyJh.eyJz.c2ln")
    assert looks_like_jwt("eyJh.eyJz.")  # alg=none: empty signature, still refused later
    for not_jwt in ["secret", "a.b", "a.b.c.d", ".b.c", "a b.c.d", "a.b.c=", ""]:
        assert not looks_like_jwt(not_jwt), not_jwt


def test_the_hmac_signature_is_sha256_over_id_timestamp_and_body() -> None:
    expected = hmac.new(b"k" * 32, b"id-1\n1700000000\n{}", hashlib.sha256).hexdigest()
    assert hmac_signature("k" * 32, "id-1", 1_700_000_000, b"{}") == f"sha256={expected}"
    assert hmac_signature("k" * 32, "id-1", "1700000000", b"{}") == f"sha256={expected}"


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in list(os.environ):
        if key.startswith(("RELMAN_", "LOOM_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_ci_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    default = _settings(monkeypatch)
    assert default.oidc_audience is None and default.hmac_secret is None
    assert default.oidc_issuer == "https://token.actions.githubusercontent.com"
    assert default.oidc_jwks_url == "https://token.actions.githubusercontent.com/.well-known/jwks"
    assert default.github_api_url == "https://api.github.com"
    assert default.oidc_repositories == [] and default.github_token is None

    s = _settings(
        monkeypatch,
        RELMAN_OIDC_AUDIENCE="https://relman.example",
        RELMAN_OIDC_REPOSITORIES=" org/tools, 123456 ,,",
        RELMAN_HMAC_SECRET="x" * 40,
        RELMAN_GITHUB_TOKEN="ghs_abc",
        RELMAN_GITHUB_API_URL="https://ghe.example/api/v3",
    )
    assert s.oidc_audience == "https://relman.example"
    assert s.oidc_repositories == ["org/tools", "123456"]
    assert s.hmac_secret is not None and s.hmac_secret.get_secret_value() == "x" * 40
    assert "ghs_abc" not in repr(s) and "x" * 40 not in repr(s)
    assert allowed_repositories(s, CONFIG) == {"Org/API", "org/web", "org/tools", "123456"}
    assert _settings(monkeypatch, RELMAN_OIDC_AUDIENCE="").oidc_audience is None


def test_a_refused_dispatch_names_status_and_githubs_message() -> None:
    err = WorkflowDispatchRefused(
        422, "No ref found for: v9", repository="org/api", workflow="deploy.yaml"
    )
    assert err.code == "dispatch_refused"
    assert err.message == (
        "GitHub refused the workflow dispatch of deploy.yaml in org/api: "
        "HTTP 422: No ref found for: v9"
    )
    assert err.details == {"status": 422, "github_message": "No ref found for: v9"}
