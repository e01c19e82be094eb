"""The signed callback_data codec: at most 64 bytes, and only what relman signed decodes."""

from __future__ import annotations

import pytest

from relman.bot.callbacks import (
    MAX_CALLBACK_BYTES,
    MAX_POSITION,
    Act,
    BadCallback,
    Lst,
    Press,
    decode,
    encode,
    signing_key,
)

KEY = signing_key("123456:token-A")


@pytest.mark.parametrize("act", list(Act))
@pytest.mark.parametrize("lst", list(Lst))
def test_every_button_round_trips(act: Act, lst: Lst) -> None:
    press = Press(act, 42, lst, 7, more=True)
    data = encode(KEY, press)
    assert decode(KEY, data) == press
    assert data.isascii()


def test_the_largest_payload_fits_telegrams_64_bytes() -> None:
    press = Press(Act.ROLLBACK_YES, 10**18 - 1, Lst.SUCCESSFUL, MAX_POSITION, more=True)
    data = encode(KEY, press)
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert decode(KEY, data) == press


def test_encode_refuses_what_it_cannot_represent() -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.CARD, -1))
    with pytest.raises(ValueError, match="cannot encode"):
        encode(KEY, Press(Act.LIST, 0, Lst.ACTIVE, MAX_POSITION + 1))


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


def test_the_key_is_derived_not_the_token() -> None:
    assert b"token-A" not in KEY and len(KEY) == 32
    assert signing_key("123456:token-A") == KEY != signing_key("123456:token-B")
