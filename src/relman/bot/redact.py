"""Keeping the bot token out of messages and logs.

The Bot API puts the token in every request's path (``https://api.telegram.org/bot<TOKEN>/
sendMessage``), so an HTTP client error may quote it. Every message from such an error
passes :func:`scrub` before it is logged or shown (:mod:`relman.bot.runtime`,
:mod:`relman.bot.sink`).
"""

from __future__ import annotations

from urllib.parse import quote

#: What stands in for the token.
MASK = "***"


def scrub(message: str, token: str) -> str:
    """``message`` without the bot ``token``: the token, its percent-encoded form and its
    secret half (after the colon; the bot id before it is public) become ``***``."""
    if not token:
        return message
    _, _, secret = token.partition(":")
    for part in (token, quote(token, safe=""), secret):
        if part:
            message = message.replace(part, MASK)
    return message
