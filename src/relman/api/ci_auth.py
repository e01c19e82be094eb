"""CI identities on the Release API (DESIGN.md §5, issue 6 item 4).

Two ways for a CI job to prove who it is, besides the shared bearer secret:

* **GitHub Actions OIDC** — ``Authorization: Bearer <JWT>`` minted by the job
  (``permissions: id-token: write``). Verified with PyJWT against the issuer's JWKS: RS256
  only, ``iss`` and ``aud`` pinned, ``exp`` and ``iat`` required, and the token's
  ``repository`` (or ``repository_id``) must be allow-listed. Claims as documented in
  GitHub's "OpenID Connect reference" (docs.github.com/actions/reference/security/oidc).
* **HMAC-signed requests** — ``X-Relman-Request-Id``, ``X-Relman-Timestamp`` (unix
  seconds) and ``X-Relman-Signature: sha256=<hex>`` over ``id \\n timestamp \\n body``
  with a shared secret; five minutes of clock skew either way; each id is accepted once.

Both give a :class:`~relman.api.guard.Principal` of kind ``ci``: CI may create releases and
report statuses, never approve. A refusal is :class:`Unauthenticated` (HTTP 401) whose
message names what failed and never contains the token, the signature or a secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from starlette.datastructures import Headers

from relman.api.guard import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ApiAuthenticator,
    Principal,
)
from relman.config import RelmanConfig, Settings
from relman.domain.errors import ConfigError, Unauthenticated
from relman.domain.version import is_release_tag
from relman.store.seen import SeenStore

log = logging.getLogger("relman.api.ci_auth")

#: The only signature algorithm accepted: GitHub signs its OIDC tokens with RS256, and a
#: fixed list is what keeps ``alg=none`` and HS256-keyed-with-the-public-key out.
OIDC_ALGORITHMS = ("RS256",)


# --- GitHub Actions OIDC ---------------------------------------------------------------


class JwksCache:
    """The issuer's signing keys (a JSON Web Key Set), fetched with httpx and cached.

    ``ttl`` is how long (seconds) a fetched set is trusted; a token signed with a ``kid``
    the cached set lacks makes one refetch (key rotation). Fetches are never tried more
    often than every ``min_refetch_interval`` seconds, so random ``kid`` values or a down
    issuer cannot make relman hammer it; when a refresh fails the cached keys keep
    serving. ``timeout`` is per fetch, in seconds; ``monotonic`` is the clock (seconds).
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        min_refetch_interval: float = 5.0,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._ttl = ttl
        self._min_refetch = min_refetch_interval
        self._timeout = timeout
        self._http = http
        self._monotonic = monotonic
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key with id ``kid``.

        Raises :class:`Unauthenticated` when the issuer does not publish that key, or when
        its JWKS cannot be fetched and nothing usable is cached.
        """
        async with self._lock:
            now = self._monotonic()
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
            may_fetch = self._tried_at is None or now - self._tried_at >= self._min_refetch
            if (stale or kid not in self._keys) and may_fetch:
                self._tried_at = now
                await self._refresh(now)
            if not self._keys:
                raise _keys_unavailable()
            found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated(f"unknown signing key: the issuer publishes no key {kid!r}")
        return found

    async def _refresh(self, now: float) -> None:
        try:
            keys = await self._fetch()
        except Unauthenticated:
            if not self._keys:
                raise
            log.warning("JWKS refresh from %s failed; using the cached keys", self.url)
            return
        self._keys = keys
        self._fetched_at = now

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            if self._http is not None:
                response = await self._http.get(self.url, timeout=self._timeout)
            else:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await client.get(self.url)
        except httpx.HTTPError as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, type(exc).__name__)
            raise _keys_unavailable() from None
        if response.status_code != 200:
            log.warning("JWKS fetch from %s answered HTTP %s", self.url, response.status_code)
            raise _keys_unavailable()
        try:
            jwks = jwt.PyJWKSet.from_dict(response.json())
        except (ValueError, TypeError, AttributeError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
            # TypeError/AttributeError: JSON that is not an object (a wrong JWKS URL).
            log.warning("JWKS from %s is not usable: %s", self.url, type(exc).__name__)
            raise Unauthenticated(
                "cannot verify the OIDC token: the issuer's key set is not usable"
            ) from None
        return {k.key_id: k for k in jwks.keys if k.key_id and k.key_type == "RSA"}


def _keys_unavailable() -> Unauthenticated:
    return Unauthenticated("cannot verify the OIDC token: the issuer's keys could not be fetched")


class OidcAuthenticator:
    """Verifies a GitHub Actions OIDC token and names the CI job it comes from.

    ``issuer`` and ``audience`` must equal the token's ``iss`` and ``aud``;
    ``allowed_repositories`` holds ``owner/name`` values (compared case-insensitively, as
    GitHub names are) and/or numeric repository ids as strings; ``leeway`` (seconds)
    tolerates clock skew on ``exp``/``iat``/``nbf``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: JwksCache,
        allowed_repositories: Iterable[str],
        leeway: float = 60.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._jwks = jwks
        self._allowed = frozenset(r.strip().casefold() for r in allowed_repositories if r.strip())
        self._leeway = leeway

    async def verify(self, token: str) -> Principal:
        """The CI principal of ``token``: kind ``ci``, name ``gh:<actor>``, the token's
        ``repository`` and ``ref``.

        Raises :class:`Unauthenticated` naming the failed check: malformed token,
        algorithm not RS256, unknown key, bad signature, expired, not yet valid, wrong
        issuer, wrong audience, missing claim, repository not allowed.
        """
        claims = await self._claims(token)
        repository = claims.get("repository")
        repository_id = claims.get("repository_id")
        if not isinstance(repository, str) or not repository:
            raise Unauthenticated("OIDC token has no repository claim")
        if not self._repository_allowed(repository, repository_id):
            raise Unauthenticated(
                f"repository not allowed: {repository!r} is neither a service's "
                "github_repository in relman.toml nor listed in RELMAN_OIDC_REPOSITORIES"
            )
        actor = claims.get("actor")
        if not isinstance(actor, str) or not actor:
            raise Unauthenticated("OIDC token has no actor claim")
        ref = claims.get("ref")
        return Principal(
            name=f"gh:{actor}",
            method="oidc",
            kind="ci",
            repository=repository,
            ref=ref if isinstance(ref, str) and ref else None,
        )

    def _repository_allowed(self, repository: str, repository_id: object) -> bool:
        if repository.casefold() in self._allowed:
            return True
        return repository_id is not None and str(repository_id) in self._allowed

    async def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("malformed OIDC token") from None
        alg = header.get("alg")
        if alg not in OIDC_ALGORITHMS:
            raise Unauthenticated(f"OIDC token algorithm {alg!r} is not accepted (RS256 only)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("OIDC token has no key id (kid)")
        key = await self._jwks.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(OIDC_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("OIDC token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"wrong audience: relman expects {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(f"wrong issuer: relman expects {self.issuer!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"OIDC token has no {exc.claim} claim") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("OIDC token is not valid yet (iat/nbf in the future)") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("bad signature on the OIDC token") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated("OIDC token algorithm is not accepted (RS256 only)") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid OIDC token: {type(exc).__name__}") from None
        return claims


# --- HMAC-signed requests --------------------------------------------------------------

#: Seconds a signed request stays acceptable, either side of relman's clock.
HMAC_WINDOW_SECONDS = 300
#: Shortest HMAC secret relman starts with (characters).
HMAC_MIN_SECRET = 32

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")


def hmac_signature(secret: str, request_id: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over
    ``request_id + "\\n" + timestamp + "\\n" + body`` (what a CI client sends in
    ``X-Relman-Signature``)."""
    message = f"{request_id}\n{timestamp}\n".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HmacAuthenticator:
    """Verifies an HMAC-signed request (see :func:`hmac_signature`).

    Checks, in order: the three headers are present and well-formed; the timestamp is
    within ``window`` seconds of ``clock()``; the signature matches (constant-time); the
    request id was never seen (recorded in ``seen`` as ``hmac:<id>`` only after the
    signature matched, so forged requests cannot burn ids). Ids must be remembered at
    least ``2 * window`` seconds.
    """

    def __init__(
        self,
        secret: str,
        seen: SeenStore,
        *,
        window: float = HMAC_WINDOW_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._secret = secret
        self._seen = seen
        self._window = window
        self._clock = clock

    async def authenticate(self, headers: Headers, body: bytes) -> Principal:
        """The principal ``ci:hmac`` (kind ``ci``), or :class:`Unauthenticated` naming
        what failed: missing/malformed header, stale timestamp, bad signature, replayed
        id. Raises :class:`~relman.domain.errors.StoreUnavailable` when the database
        cannot record the id."""
        request_id = headers.get(ID_HEADER, "")
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        signature = headers.get(SIGNATURE_HEADER, "")
        if not _REQUEST_ID.match(request_id):
            raise Unauthenticated(
                f"{ID_HEADER} missing or malformed: 1-128 of letters, digits, . _ : -"
            )
        if not _TIMESTAMP.match(timestamp):
            raise Unauthenticated(f"{TIMESTAMP_HEADER} missing or malformed: unix seconds")
        match = _SIGNATURE.match(signature)
        if match is None:
            raise Unauthenticated(f"{SIGNATURE_HEADER} missing or malformed: sha256=<hex>")
        now = self._clock()
        skew = int(timestamp) - now.timestamp()
        if abs(skew) > self._window:
            raise Unauthenticated(
                f"stale timestamp: {abs(skew):.0f} s from relman's clock "
                f"(allowed ±{self._window:.0f} s)"
            )
        expected = hmac_signature(self._secret, request_id, timestamp, body)
        if not hmac.compare_digest(
            ("sha256=" + match.group(1).lower()).encode(), expected.encode()
        ):
            raise Unauthenticated("bad signature")
        if not await self._seen.first_time(f"hmac:{request_id}", at=now):
            raise Unauthenticated(f"replayed request id: {request_id} was already used")
        return Principal(name="ci:hmac", method="hmac", kind="ci")


# --- wiring and the release rule -------------------------------------------------------


def allowed_repositories(settings: Settings, config: RelmanConfig) -> frozenset[str]:
    """Repositories whose OIDC tokens are accepted: every service's ``github_repository``
    in relman.toml plus ``RELMAN_OIDC_REPOSITORIES``."""
    from_services = {s.github_repository for s in config.services.values() if s.github_repository}
    return frozenset(from_services | set(settings.oidc_repositories))


def build_authenticator(
    settings: Settings, config: RelmanConfig, seen: SeenStore
) -> ApiAuthenticator:
    """The API's authenticator: the bearer secret always, OIDC when
    ``RELMAN_OIDC_AUDIENCE`` is set, HMAC when ``RELMAN_HMAC_SECRET`` is set.

    Raises :class:`ConfigError` when no API secret is set or the HMAC secret is shorter
    than :data:`HMAC_MIN_SECRET` characters.
    """
    oidc = None
    if settings.oidc_audience:
        oidc = OidcAuthenticator(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks=JwksCache(settings.oidc_jwks_url, ttl=settings.oidc_jwks_ttl),
            allowed_repositories=allowed_repositories(settings, config),
        )
    signed = None
    if settings.hmac_secret is not None:
        secret = settings.hmac_secret.get_secret_value()
        if len(secret) < HMAC_MIN_SECRET:
            raise ConfigError(
                f"RELMAN_HMAC_SECRET is too short: use at least {HMAC_MIN_SECRET} characters"
            )
        signed = HmacAuthenticator(secret, seen)
    secret = settings.require_secret()
    operator = settings.operator_secret.get_secret_value() if settings.operator_secret else None
    if operator is not None and (len(operator) < HMAC_MIN_SECRET or operator == secret):
        raise ConfigError(
            f"RELMAN_OPERATOR_SECRET must have at least {HMAC_MIN_SECRET} characters and "
            "differ from LOOM_INTERSERVER_SECRET_KEY"
        )
    return ApiAuthenticator(secret, operator_secret=operator, oidc=oidc, signed=signed)


_TAG_REF = "refs/tags/"


def initiator(principal: Principal, claimed: str) -> str:
    """Who started a release: for a GitHub OIDC caller the token's ``actor`` (the person who
    pushed the tag), never the body's claim, so four-eyes cannot be dodged by naming
    someone else; for other callers the ``initiated_by`` they send (seed 003)."""
    if principal.method == "oidc":
        return principal.name.removeprefix("gh:")
    return claimed


def check_release_start(
    principal: Principal, *, service: str, release_tag: str, config: RelmanConfig
) -> None:
    """The rule for ``POST {prefix}/release`` by a GitHub OIDC identity (DESIGN.md §5:
    repository and ref pinned). Other callers pass unchecked. Pure: no I/O.

    The token's ``ref`` must be ``refs/tags/`` + a release tag (``v`` + SemVer) equal to
    ``release_tag``, and ``service`` must name the token's ``repository`` as its
    ``github_repository`` in relman.toml. Raises :class:`Unauthenticated` naming which.
    """
    if principal.method != "oidc":
        return
    ref = principal.ref or ""
    tag = ref.removeprefix(_TAG_REF)
    if not ref.startswith(_TAG_REF) or not is_release_tag(tag):
        raise Unauthenticated(
            f"ref not a version tag: the token's ref is {ref!r}; a release starts only "
            "from refs/tags/v<MAJOR.MINOR.PATCH>"
        )
    if tag != release_tag:
        raise Unauthenticated(
            f"ref does not match the release: the token is for tag {tag!r}, "
            f"the body names {release_tag!r}"
        )
    entry = config.services.get(service)
    expected = entry.github_repository if entry is not None else None
    token_repository = principal.repository or ""
    if expected is None:
        raise Unauthenticated(
            f"repository not allowed for service {service!r}: relman.toml gives it no "
            "github_repository, so no OIDC token may start its releases"
        )
    if expected.casefold() != token_repository.casefold():
        raise Unauthenticated(
            f"repository not allowed for service {service!r}: the token is from "
            f"{token_repository!r}, the service's github_repository is {expected!r}"
        )
