"""The bot's ``callback_data``: a short, signed, strictly parsed button payload.

Telegram gives a button 1–64 bytes of ``callback_data`` and hands them back verbatim when
the button is pressed (Bot API, ``InlineKeyboardButton``). Whatever comes back is
untrusted: a modified client can send any bytes. So a payload is

    <action>.<release id>.<list>[+].<position>[.<current id>].<signature>

e.g. ``ap.42.a+.0.Xc2v9LqP0aw`` or ``ry.41.s.1.42.Xc2v9LqP0aw``


- ``action``: an opaque short id (:class:`Act`);
- ``release id``: a positive integer, ``0`` where no release is meant (menu, lists);
- ``list``: where the card was reached from — ``a`` active, ``s`` successful, ``f``
  failed, ``n`` no list (a card opened on its own), ``q`` the QA chat's notice;
  ``+`` when the list has an older card after this one (for the ▶️ button);
- ``position``: the card's place in that list (0 = newest), for the ◀️ / ▶️ buttons;
- ``current id``: on ✅ Да, откатить (``ry``) only, and required there — the id of the
  release that was in production when the confirmation was shown (on a rejection reason,
  ``rr``, the same slot carries the reason's number, 1-based, required there too). The
  confirmation names that release's tag, so the rollback is refused when production has
  moved on since (a newer release deployed meanwhile): the user confirmed rolling back
  *that* release;
- ``signature``: the first 64 bits of HMAC-SHA256 over the rest, keyed by a secret derived
  from the bot token, base64url.

:func:`decode` accepts only what :func:`encode` produced with the same key; anything else
(forged, truncated, from another bot) raises :class:`BadCallback`, and the bot answers with
a short refusal and changes nothing. Authorization is not carried here: the services check
the pressing user's id on every action.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from relman.domain.errors import InvalidInput

#: Telegram's limit for ``callback_data`` in bytes (Bot API, InlineKeyboardButton).
MAX_CALLBACK_BYTES = 64
#: The largest list position a button may carry (the release list reads at most 200 rows).
MAX_POSITION = 198
#: The largest release id a button may carry (18 digits).
MAX_ID = 10**18 - 1
_SIG_BYTES = 8
_SHAPE = re.compile(
    r"^(?P<act>[a-z]{1,2})\.(?P<rid>0|[1-9][0-9]{0,17})\.(?P<lst>[asfnq])(?P<more>\+?)"
    r"\.(?P<pos>0|[1-9][0-9]{0,2})(?:\.(?P<cur>[1-9][0-9]{0,17}))?\.(?P<sig>[A-Za-z0-9_-]{11})$"
)


class Act(StrEnum):
    """What a button does."""

    MENU = "m"  # back to the main menu
    LIST = "l"  # show a list (its card at ``position``)
    CARD = "c"  # show / refresh one release's card
    APPROVE = "ap"  # QA: approve (manual_testing -> manual_test_passed)
    REJECT = "rj"  # QA: ask why before rejecting (issue 16)
    REJECT_REASON = "rr"  # QA: reject with common reason number ``reason``
    REJECT_OTHER = "ro"  # QA: reject with a reason of their own (a ForceReply prompt)
    ROLLBACK_ASK = "rb"  # open the rollback confirmation
    ROLLBACK_YES = "ry"  # confirmed: put the service back on this release's tag


class Lst(StrEnum):
    """Which list a card belongs to; ``NONE`` for a card opened from a notification."""

    ACTIVE = "a"
    SUCCESSFUL = "s"
    FAILED = "f"
    NONE = "n"
    NOTICE = "q"  # the QA chat's "ready for testing" notice

    @property
    def group(self) -> str | None:
        """The release service's group name (``active``, …), ``None`` for ``NONE``."""
        return _GROUPS.get(self)


_GROUPS = {Lst.ACTIVE: "active", Lst.SUCCESSFUL: "successful", Lst.FAILED: "failed"}


class BadCallback(InvalidInput):
    """A ``callback_data`` relman did not sign, or not in this shape (forged or stale)."""

    def __init__(self) -> None:
        super().__init__("callback_data", "not a button relman made")


@dataclass(frozen=True, slots=True)
class Press:
    """A decoded button: ``act`` on release ``release_id`` (0: none), shown as card number
    ``position`` of list ``lst``, which has an older card after it when ``more``.

    ``current_id`` is set on :attr:`Act.ROLLBACK_YES` only (and required there): the
    release that was in production when the confirmation was shown. ``reason`` is set on
    :attr:`Act.REJECT_REASON` only (and required there): the common reason's number."""

    act: Act
    release_id: int = 0
    lst: Lst = Lst.NONE
    position: int = 0
    more: bool = False
    current_id: int = 0
    reason: int = 0


#: The actions that carry the extra number, and which one.
_EXTRA = {Act.ROLLBACK_YES: "current_id", Act.REJECT_REASON: "reason"}


def signing_key(token: str) -> bytes:
    """The HMAC key for button payloads, derived from the bot token (never the token
    itself, so a leaked payload says nothing about it)."""
    return hmac.new(token.encode(), b"relman/callback-data/v1", hashlib.sha256).digest()


def _sign(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def encode(key: bytes, press: Press) -> str:
    """The signed ``callback_data`` for ``press``; at most 64 bytes.

    Raises :class:`ValueError` for an id outside ``0..MAX_ID``, a position beyond
    :data:`MAX_POSITION`, or a ``current_id`` on any button but
    :attr:`Act.ROLLBACK_YES` / none on that one (a programming error, never user input).
    """
    extra = press.current_id if press.act is Act.ROLLBACK_YES else press.reason
    other = press.reason if press.act is Act.ROLLBACK_YES else press.current_id
    if (
        not 0 <= press.release_id <= MAX_ID
        or not 0 <= press.position <= MAX_POSITION
        or not 0 <= extra <= MAX_ID
        or other != 0
        or (press.act in _EXTRA) != (extra > 0)
    ):
        raise ValueError(f"cannot encode {press}")
    more = "+" if press.more else ""
    body = f"{press.act.value}.{press.release_id}.{press.lst.value}{more}.{press.position}"
    if extra:
        body = f"{body}.{extra}"
    data = f"{body}.{_sign(key, body)}"
    if len(data.encode("ascii")) > MAX_CALLBACK_BYTES:  # pragma: no cover - bounded above
        raise ValueError(f"callback_data over {MAX_CALLBACK_BYTES} bytes: {data}")
    return data


def decode(key: bytes, data: str | None) -> Press:
    """The :class:`Press` inside ``data``; raises :class:`BadCallback` unless ``data`` is
    exactly what :func:`encode` makes with ``key`` (shape, known action and list, position
    in range, a current id exactly on ✅ Да, откатить, matching signature — compared in
    constant time)."""
    if not data or len(data) > MAX_CALLBACK_BYTES:
        raise BadCallback()
    match = _SHAPE.match(data)
    if match is None:
        raise BadCallback()
    body = data.rsplit(".", 1)[0]
    if not hmac.compare_digest(_sign(key, body), match["sig"]):
        raise BadCallback()
    try:
        act, lst = Act(match["act"]), Lst(match["lst"])
    except ValueError:
        raise BadCallback() from None
    position = int(match["pos"])
    if position > MAX_POSITION or (act in _EXTRA) != (match["cur"] is not None):
        raise BadCallback()
    extra = int(match["cur"] or 0)
    return Press(
        act=act,
        release_id=int(match["rid"]),
        lst=lst,
        position=position,
        more=bool(match["more"]),
        current_id=extra if act is Act.ROLLBACK_YES else 0,
        reason=extra if act is Act.REJECT_REASON else 0,
    )
