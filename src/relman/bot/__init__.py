"""The Telegram bot (seed 003, "Telegram Bot интерфейс"), built on aiogram 3.

- :mod:`~relman.bot.texts`: every text, Russian (the seed's) and English;
- :mod:`~relman.bot.cards` / :mod:`~relman.bot.keyboards`: releases rendered as screens
  (plain data: text and keyboard);
- :mod:`~relman.bot.callbacks`: the signed, compact ``callback_data`` codec;
- :mod:`~relman.bot.handlers`: the aiogram router (parse, call one service, render);
- :mod:`~relman.bot.webhook`: ``POST {prefix}/update``;
- :mod:`~relman.bot.sink`: notifications to the QA and team chats, sent by
  :mod:`~relman.bot.sender` (the Bot API over httpx: a process that only sends never
  imports aiogram);
- :mod:`~relman.bot.runtime`: Bot and Dispatcher from the settings, webhook and polling.
"""
