"""Which characters a name, an identity or a note may hold (issue 15 item 4).

Every text a caller sends that ends up in an audit row, a release's columns or a name on
screen goes through one of two rules, so an audit row never holds an invisible actor and
no text reorders or rewrites what is shown around it:

* an **identifier** (actor, ``initiated_by``, service name, tag, run id, link, ref, list
  cursor) holds visible characters and plain spaces only: no character of the Unicode
  general categories (UAX #44) ``Cc`` (C0 controls, DEL, C1 controls: NUL, ``\\v``, new
  lines, ESC…), ``Cf`` (format characters: zero-width space, bidirectional overrides,
  the BOM…), ``Zl``/``Zp`` (line and paragraph separators) or ``Cs`` (a lone surrogate,
  which JSON's ``\\ud800`` can deliver but no UTF-8 column can store);
* a **free text** (a status note, a rejection reason) may also hold new lines (``\\n``)
  and tabs (``\\t``) and the format characters emoji need (the zero-width joiner), but no
  other control character (``\\r`` and ESC rewrite a terminal line; NUL is refused by
  PostgreSQL), no lone surrogate, and none of the bidirectional embedding, override and
  isolate controls that make text display in another order than it is stored
  ("Trojan Source", CVE-2021-42574).

Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata

#: Categories an identifier never holds (see the module docstring).
_NOT_IN_IDENTIFIERS = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Control characters a free text may hold.
_FREE_TEXT_CONTROLS = frozenset({"\n", "\t"})
#: Bidirectional embedding/override (U+202A–U+202E) and isolate (U+2066–U+2069) controls.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def _refused_in_free_text(char: str) -> bool:
    if char in _FREE_TEXT_CONTROLS:
        return False
    return char in _BIDI_CONTROLS or unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"}


def forbidden_character(value: str, *, free_text: bool = False) -> tuple[int, str] | None:
    """The first character ``value`` may not hold, as ``(index, character)``, or ``None``.

    ``free_text`` picks the free-text rule (notes, reasons) instead of the identifier rule;
    see the module docstring for both.
    """
    for index, char in enumerate(value):
        refused = (
            _refused_in_free_text(char)
            if free_text
            else unicodedata.category(char) in _NOT_IN_IDENTIFIERS
        )
        if refused:
            return index, char
    return None


#: The C0 control characters' abbreviations (ISO 6429 / Unicode's aliases), by code point;
#: ``unicodedata.name`` has no name for them.
# fmt: off
_C0 = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF",
    "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM",
    "SUB", "ESC", "FS", "GS", "RS", "US",
)
# fmt: on


def character_label(char: str) -> str:
    """``U+000B (VT)``, ``U+200B (ZERO WIDTH SPACE)``: a character named so that a person
    can see which one it is (the character itself would be invisible)."""
    code = ord(char)
    if code < len(_C0):
        name = _C0[code]
    elif code == 0x7F:
        name = "DEL"
    else:
        name = unicodedata.name(char, "")
    return f"U+{code:04X} ({name})" if name else f"U+{code:04X}"


_KIND = {"Cc": "control character", "Cs": "unpaired surrogate"}


def text_problem(value: str, *, free_text: bool = False) -> str | None:
    """What is wrong with ``value`` under its rule, in words for an error message, or
    ``None`` when it is acceptable: the refused character by :func:`character_label` and
    its 1-based position, e.g. ``must not contain the control character U+000B (VT) at
    character 1``."""
    found = forbidden_character(value, free_text=free_text)
    if found is None:
        return None
    index, char = found
    kind = _KIND.get(unicodedata.category(char), "invisible formatting character")
    allowed = "; new lines and tabs are allowed here" if free_text else ""
    return f"must not contain the {kind} {character_label(char)} at character {index + 1}{allowed}"
