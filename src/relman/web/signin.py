"""Sign-in without passwords (issue 13 item 2): one-time links, session cookies, CSRF.

* A **login link** carries a token signed with a key derived from the API secret
  (``LOOM_INTERSERVER_SECRET_KEY``; HS256 JWT): the person's policy identity (``tg:<id>``,
  ``cli:<user>``), their display name, a random id and an expiry 5 minutes ahead. The bot's
  ``/web`` and ``relman web login-link`` make them (:func:`login_link`).
* **Redeeming** it (:meth:`SignIn.redeem`) records the token's id once in the database's
  processed-once keys (``seen_keys``, shared by replicas), so a used link is refused, as is
  an expired or tampered one. Opening the link only shows a "Sign in" button: the POST
  redeems it, so a chat's link preview cannot use the link up.
* The **session** is a signed cookie (another HS256 JWT, another derived key): identity,
  name, a random session id, 12 h.
* The **CSRF token** of a session is an HMAC of its session id: every POST must carry it
  (a form field or the ``X-CSRF-Token`` header); another site cannot read it.

No framework here: the CLI imports this module without FastAPI or Jinja2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import jwt

from relman.domain.errors import Unauthenticated
from relman.domain.policy import identity

if TYPE_CHECKING:
    from relman.config import Settings

LINK_TTL = timedelta(minutes=5)
SESSION_TTL = timedelta(hours=12)
SESSION_COOKIE = "relman_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_ALGORITHM = "HS256"
_LOGIN_AUDIENCE = "relman-web-login"
_SESSION_AUDIENCE = "relman-web-session"


class SeenKeys(Protocol):
    """The processed-once keys (:class:`relman.store.seen.SeenStore`)."""

    async def first_time(self, key: str, *, at: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: policy ``identity``, display ``name``, session id ``sid``."""

    identity: str
    name: str
    sid: str
    expires_at: datetime


def _key(secret: str, purpose: str) -> bytes:
    """A key for ``purpose`` derived from the API secret (never the secret itself)."""
    return hmac.new(secret.encode(), f"relman-web:{purpose}".encode(), hashlib.sha256).digest()


def login_token(secret: str, who: str, name: str, *, now: datetime) -> str:
    """A one-time sign-in token for identity ``who`` (canonical form), valid 5 minutes."""
    claims: dict[str, Any] = {
        "sub": identity(who),
        "name": name[:64],
        "jti": secrets.token_urlsafe(16),
        "iat": int(now.timestamp()),
        "exp": int((now + LINK_TTL).timestamp()),
        "aud": _LOGIN_AUDIENCE,
    }
    return jwt.encode(claims, _key(secret, "login"), algorithm=_ALGORITHM)


def login_link(secret: str, base_url: str, who: str, name: str = "", *, now: datetime) -> str:
    """The one-time link that signs ``who`` in on the dashboard at ``base_url``."""
    token = login_token(secret, who, name, now=now)
    return f"{base_url.rstrip('/')}/login?token={quote(token)}"


def dashboard_url(host: str, port: int, prefix: str = "", public_url: str | None = None) -> str:
    """Where people open the dashboard: ``public_url`` when configured, else the address
    ``relman serve`` listens on (``0.0.0.0`` shown as ``127.0.0.1``)."""
    if public_url:
        return public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}{prefix.rstrip('/')}"


def settings_link(settings: Settings, who: str, name: str = "", *, now: datetime) -> str:
    """A one-time link for ``who`` to the dashboard ``relman serve`` runs with ``settings``
    (its public URL when configured, else its listen address)."""
    base = dashboard_url(
        settings.host,
        settings.port,
        settings.web_prefix,
        settings.public_url,
    )
    return login_link(settings.require_secret(), base, who, name, now=now)


class SignIn:
    """Redeems links, issues and reads sessions, makes and checks CSRF tokens."""

    def __init__(self, secret: str, seen: SeenKeys) -> None:
        self._secret = secret
        self._login_key = _key(secret, "login")
        self._session_key = _key(secret, "session")
        self._csrf_key = _key(secret, "csrf")
        self._seen = seen

    def link(self, base_url: str, who: str, name: str = "", *, now: datetime) -> str:
        """:func:`login_link` with this relman's secret."""
        return login_link(self._secret, base_url, who, name, now=now)

    def peek(self, token: str, *, now: datetime) -> tuple[str, str]:
        """The (identity, name) a link token would sign in, without using it up. Raises
        :class:`Unauthenticated` for an expired, tampered or foreign token."""
        claims = self._login_claims(token, now)
        return str(claims["sub"]), str(claims.get("name") or "")

    async def redeem(self, token: str, *, now: datetime) -> Session:
        """Use a link token once: the new session. Raises :class:`Unauthenticated` for an
        expired, tampered or already used token."""
        claims = self._login_claims(token, now)
        if not await self._seen.first_time(f"web-login:{claims['jti']}", at=now):
            raise Unauthenticated("this sign-in link was already used; ask for a new one")
        return Session(
            identity=identity(str(claims["sub"])),
            name=str(claims.get("name") or ""),
            sid=secrets.token_urlsafe(16),
            expires_at=now + SESSION_TTL,
        )

    def cookie(self, session: Session) -> str:
        """The signed session cookie's value."""
        claims = {
            "sub": session.identity,
            "name": session.name,
            "sid": session.sid,
            "exp": int(session.expires_at.timestamp()),
            "aud": _SESSION_AUDIENCE,
        }
        return jwt.encode(claims, self._session_key, algorithm=_ALGORITHM)

    def session(self, cookie: str | None, *, now: datetime) -> Session | None:
        """The session in a cookie; ``None`` when missing, tampered or expired."""
        if not cookie:
            return None
        try:
            claims = jwt.decode(
                cookie,
                self._session_key,
                algorithms=[_ALGORITHM],
                audience=_SESSION_AUDIENCE,
                options={"require": ["exp", "sub", "sid"], "verify_exp": False},
            )
        except jwt.PyJWTError:
            return None
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
        if expires <= now:
            return None
        return Session(
            identity=str(claims["sub"]),
            name=str(claims.get("name") or ""),
            sid=str(claims["sid"]),
            expires_at=expires,
        )

    def csrf(self, session: Session) -> str:
        """The CSRF token of ``session`` (put in every form)."""
        return hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        """True when ``given`` is ``session``'s CSRF token (compared in constant time)."""
        return bool(given) and hmac.compare_digest(self.csrf(session), str(given))

    def _login_claims(self, token: str, now: datetime) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._login_key,
                algorithms=[_ALGORITHM],
                audience=_LOGIN_AUDIENCE,
                options={"require": ["exp", "sub", "jti"], "verify_exp": False},
            )
        except jwt.PyJWTError:
            raise Unauthenticated("this sign-in link is not valid; ask for a new one") from None
        if int(claims["exp"]) <= now.timestamp():
            raise Unauthenticated("this sign-in link has expired (5 minutes); ask for a new one")
        return claims
