"""The signed callback_data codec: at most 64 bytes, and only what relman signed decodes."""

from __future__ import annotations

import pytest

from relman.bot.callbacks import (
    MAX_CALLBACK_BYTES,
    MAX_ID,
    MAX_POSITION,
    Act,
    BadCallback,
    Lst,
    Press,
    _sign,
    decode,
    encode,
    signing_key,
)

KEY = signing_key("123456:token-A")


@pytest.mark.parametrize("act", list(Act))
@pytest.mark.parametrize("lst", list(Lst))
def test_every_button_round_trips(act: Act, lst: Lst) -> None:
    current = 43 if act is Act.ROLLBACK_YES else 0
    reason = 3 if act is Act.REJECT_REASON else 0
    press = Press(act, 42, lst, 7, more=True, current_id=current, reason=reason)
    data = encode(KEY, press)
    assert decode(KEY, data) == press
    assert data.isascii()


def test_the_largest_payload_fits_telegrams_64_bytes() -> None:
    press = Press(
        Act.ROLLBACK_YES, MAX_ID, Lst.SUCCESSFUL, MAX_POSITION, more=True, current_id=MAX_ID
    )
    data = encode(KEY, press)
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert decode(KEY, data) == press


def test_encode_refuses_what_it_cannot_represent() -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.CARD, -1))
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.LIST, 0, Lst.ACTIVE, MAX_POSITION + 1))
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.CARD, MAX_ID + 1))
    # ✅ Да, откатить always names the release in production, and only it does.
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.ROLLBACK_YES, 5, Lst.SUCCESSFUL, 1))
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.ROLLBACK_ASK, 5, Lst.SUCCESSFUL, 1, current_id=6))
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.ROLLBACK_YES, 5, current_id=MAX_ID + 1))


def test_a_changed_payload_is_refused() -> None:
    data = encode(KEY, Press(Act.APPROVE, 5, Lst.NONE, 0))
    body, sig = data.rsplit(".", 1)
    tampered = [
        data.replace("ap.5.", "ap.6."),  # another release
        data.replace("ap.5.", "rj.5."),  # another action
        f"{body}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",  # a signature bit
        encode(signing_key("999:token-B"), Press(Act.APPROVE, 5)),  # another bot
        data + "x",
        data[:-1],
        "",
        None,
        "ap.05.n.0." + sig,  # a leading zero
        "zz.5.n.0." + sig,  # an unknown action
        "ap.5.q.0." + sig,  # an unknown list
        "ap.5.n.999." + sig,  # beyond the largest position
        "ap.5.n.0.AAAAAAAAAAA",
        "a" * 65,
        "ap.5.n.0.AAAAAAAAAA=",
    ]
    for forged in tampered:
        with pytest.raises(BadCallback):
            decode(KEY, forged)


def test_the_rollback_confirmation_signs_the_release_in_production() -> None:
    data = encode(KEY, Press(Act.ROLLBACK_YES, 5, Lst.SUCCESSFUL, 1, current_id=8))
    assert data.startswith("ry.5.s.1.8.")
    assert decode(KEY, data).current_id == 8
    tampered = [
        data.replace(".1.8.", ".1.9."),  # another release in production, same signature
        data.replace(".1.8.", ".1."),  # the current id dropped
        # Correctly signed, but a confirmation without a current id (as relman made them
        # before it was there) or a current id on another button.
        f"ry.5.s.1.{_sign(KEY, 'ry.5.s.1')}",
        f"rb.5.s.1.8.{_sign(KEY, 'rb.5.s.1.8')}",
        data.replace(".1.8.", ".1.08."),  # a leading zero
        data.replace(".1.8.", ".1.0."),  # no release
        data.replace(".1.8.", ".1.8.8."),  # two of them
    ]
    for forged in tampered:
        with pytest.raises(BadCallback):
            decode(KEY, forged)


def test_the_key_is_derived_not_the_token() -> None:
    assert b"token-A" not in KEY and len(KEY) == 32
    assert signing_key("123456:token-A") == KEY != signing_key("123456:token-B")


def test_a_rejection_reason_needs_its_number_and_only_there() -> None:
    press = Press(Act.REJECT_REASON, 42, Lst.NOTICE, 0, reason=2)
    data = encode(KEY, press)
    assert decode(KEY, data).reason == 2 and decode(KEY, data).current_id == 0
    for wrong in (
        Press(Act.REJECT_REASON, 42),  # no reason
        Press(Act.REJECT, 42, reason=2),  # a reason on another button
        Press(Act.ROLLBACK_YES, 42, current_id=1, reason=2),
    ):
        with pytest.raises(ValueError, match="cannot encode"):
            encode(KEY, wrong)
    body = "rr.42.q.0"  # a reason slot forged onto a shape without it
    with pytest.raises(BadCallback):
        decode(KEY, f"{body}.{_sign(KEY, body)}")
