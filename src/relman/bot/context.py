"""What every bot handler needs, built once at start-up (:mod:`relman.bot.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from relman.bootstrap import Container
from relman.bot.callbacks import signing_key
from relman.bot.cards import View
from relman.bot.texts import Texts, texts_for
from relman.domain.clock import Clock
from relman.store.bot_messages import BotMessageStore


@dataclass(frozen=True, slots=True)
class BotContext:
    """The services (``container``), the callback signing ``key``, the time zone dates are
    shown in, the default ``language``, the ``clock`` (UTC) and the deploy ``log_root``."""

    container: Container
    key: bytes
    tz: ZoneInfo
    language: str
    clock: Clock
    log_root: Path

    def view(self, texts: Texts) -> View:
        """How to render now, in ``texts``' language, with relman.toml's environment
        links."""
        config = getattr(self.container, "config", None)  # None: rendering without services
        if config is None:
            return View(texts=texts, key=self.key, now=self.clock(), tz=self.tz)
        return View(
            texts=texts, key=self.key, now=self.clock(), tz=self.tz, env_url=config.environment_url
        )

    def default_texts(self) -> Texts:
        """The texts of the configured default language (for chats, not users)."""
        return texts_for(None, self.language)

    @property
    def messages(self) -> BotMessageStore:
        """The messages the bot follows (``bot_messages``; issue 16)."""
        return BotMessageStore(self.container.engine)


def bot_context(container: Container, token: str) -> BotContext:
    """The context of the bot ``token`` in ``container``: its callback signing key, the
    settings' time zone (``RELMAN_TELEGRAM_TIMEZONE``) and default language."""
    settings = container.settings
    return BotContext(
        container=container,
        key=signing_key(token),
        tz=ZoneInfo(settings.telegram_timezone),
        language=settings.telegram_language,
        clock=container.clock,
        log_root=settings.log_root,
    )
