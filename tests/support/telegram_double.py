"""A local, strict double of the Telegram Bot API, for tests (no machine here reaches
Telegram; DESIGN.md §6).

:class:`TelegramDouble` is a real HTTP server on 127.0.0.1 (a thread running
:class:`http.server.ThreadingHTTPServer`) that speaks ``/bot<token>/<method>`` as aiogram
sends it — ``application/x-www-form-urlencoded``, ``multipart/form-data`` or JSON bodies,
and query strings — and answers in Telegram's shapes: ``{"ok": true, "result": …}`` or
``{"ok": false, "error_code": …, "description": …, "parameters": …}``.

Methods: getMe, getUpdates (long polling, offsets, the 409 conflicts), setWebhook,
deleteWebhook, getWebhookInfo, sendMessage, editMessageText, editMessageReplyMarkup,
answerCallbackQuery, setMyCommands, getMyCommands. Anything else is 404 "Not Found"; a
wrong token is 401 "Unauthorized".

It keeps every chat's messages with their inline keyboards and is as strict as Telegram
where relman could get it wrong (Bot API reference; descriptions as Telegram writes them):

- ``callback_data`` must be 1–64 bytes: ``Bad Request: BUTTON_DATA_INVALID``;
- text is parsed as Telegram HTML (only Telegram's tags; ``<``, ``>``, ``&`` outside markup
  must be escaped — *stricter* than Telegram about a bare ``&``, on purpose) and must be
  1–4096 characters after parsing, counted in UTF-16 code units: ``Bad Request: can't
  parse entities: …``, ``Bad Request: message text is empty``, ``Bad Request: message is
  too long``;
- an edit that changes neither text, entities nor keyboard: ``Bad Request: message is not
  modified: …``; editing an unknown message: ``Bad Request: message to edit not found``;
- ``editMessageText`` without ``reply_markup`` removes the keyboard, like Telegram;
- a bot's message older than 48 hours cannot be edited: ``Bad Request: message can't be
  edited`` (:meth:`TelegramDouble.age` makes one that old);
- ``reply_markup`` is an inline keyboard or, on ``sendMessage`` only, a ``ForceReply``
  (``force_reply`` true, ``input_field_placeholder`` 1–64 characters); an edit with
  anything but an inline keyboard: ``Bad Request: inline keyboard expected``;
- ``setMyCommands``: at most 100 commands, each 1–32 characters of ``a-z0-9_`` with a
  1–256 character description, ``language_code`` empty or two lowercase letters:
  ``Bad Request: BOT_COMMAND_INVALID`` / ``BOT_COMMAND_DESCRIPTION_INVALID`` /
  ``LANG_CODE_INVALID``;
- an unknown, expired or already answered callback query: ``Bad Request: query is too old
  and response timeout expired or query ID is invalid``; an answer text over 200
  characters: ``Bad Request: MESSAGE_TOO_LONG``;
- sending to a chat the bot has never seen: ``Bad Request: chat not found``;
- ``setWebhook`` needs an https URL — except on a loopback address, so tests can receive —
  and a ``secret_token`` of 1–256 ``A-Za-z0-9_-``;
- :meth:`TelegramDouble.rate_limit` makes the next calls answer 429 with
  ``parameters.retry_after``.

A test's user is a :class:`TelegramUser`: it sends a text or presses a button of a message
in a chat by building the update Telegram would send and handing it to a *delivery*: a
:class:`WebhookPoster` (POST to relman's webhook with the secret header) or
:meth:`TelegramDouble.push` (Telegram's own behaviour: to the registered webhook, else
queued for getUpdates).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

MAX_TEXT = 4096  # sendMessage / editMessageText: 1-4096 characters after entities parsing
MAX_CALLBACK_DATA = 64  # InlineKeyboardButton.callback_data: 1-64 bytes
MAX_ANSWER_TEXT = 200  # answerCallbackQuery.text: 0-200 characters
EDITABLE_FOR = 48 * 3600  # seconds a bot may edit its message
COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

# Telegram's HTML: tag -> entity type (Bot API, "HTML style").
_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"]*\"|='[^']*')?)*)\s*>")
_ATTR = re.compile(r"([a-zA-Z-]+)(?:=\"([^\"]*)\"|='([^']*)')?")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse: the plain text and its entities (UTF-16 offsets).

    Raises :class:`ApiError` ("can't parse entities: …") for an unsupported tag, an
    unmatched or unclosed tag, or a ``<``, ``>`` or ``&`` that is not markup.
    """
    out: list[str] = []
    length = 0  # UTF-16 units so far
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[dict[str, Any]] = []
    i = 0

    def offset_error(what: str) -> ApiError:
        byte = len(source[:i].encode())
        return bad(f"can't parse entities: {what} at byte offset {byte}")

    while i < len(source):
        ch = source[i]
        if ch == "<":
            m = _TAG.match(source, i)
            if m is None:
                raise offset_error("Unclosed start tag")
            closing, name, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if name not in _TAGS:
                kind = "end" if closing else "start"
                raise offset_error(f'Unsupported {kind} tag "{name}"')
            if closing:
                if not stack or stack[-1][0] != name:
                    expected = f'"</{stack[-1][0]}>"' if stack else "no end tag"
                    raise offset_error(f'Unmatched end tag, expected {expected}, found "</{name}>"')
                open_name, start, attributes = stack.pop()
                entity: dict[str, Any] = {
                    "type": _TAGS[open_name],
                    "offset": start,
                    "length": length - start,
                }
                if open_name == "a":
                    entity["url"] = attributes.get("href", "")
                if entity["length"] > 0:
                    entities.append(entity)
            else:
                attributes = {}
                for am in _ATTR.finditer(attrs):
                    value = am.group(2) if am.group(2) is not None else (am.group(3) or "")
                    attributes[am.group(1).lower()] = _unescape(value)
                if name == "span" and attributes.get("class") != "tg-spoiler":
                    raise offset_error('Unsupported start tag "span"')
                stack.append((name, length, attributes))
            i = m.end()
            continue
        if ch == ">":
            raise offset_error('Character ">" is reserved')
        if ch == "&":
            m = _ENTITY.match(source, i)
            if m is None:
                raise offset_error('Character "&" is reserved (stricter than Telegram)')
            text = _entity_text(m.group(1))
            i = m.end()
        else:
            text = ch
            i += 1
        out.append(text)
        length += utf16_len(text)
    if stack:
        raise bad(
            f"can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity_text(name: str) -> str:
    if name in _NAMED:
        return _NAMED[name]
    code = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
    return chr(code)


def _unescape(value: str) -> str:
    return _ENTITY.sub(lambda m: _entity_text(m.group(1)), value)


@dataclass(frozen=True)
class Button:
    """An inline keyboard button as Telegram stores it."""

    text: str
    callback_data: str | None = None
    url: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text}
        if self.callback_data is not None:
            data["callback_data"] = self.callback_data
        if self.url is not None:
            data["url"] = self.url
        return data


@dataclass
class ChatMessage:
    """One message in a chat: its plain ``text`` (after HTML parsing), the ``html`` it was
    sent as, its ``entities`` and inline ``keyboard``."""

    message_id: int
    chat: dict[str, Any]
    sender: dict[str, Any]
    date: int
    text: str
    html: str = ""
    entities: list[dict[str, Any]] = field(default_factory=list)
    keyboard: list[list[Button]] = field(default_factory=list)
    from_bot: bool = True
    edits: int = 0
    force_reply: dict[str, Any] | None = None
    reply_to: int | None = None

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def buttons(self) -> list[Button]:
        return [b for row in self.keyboard for b in row]

    @property
    def labels(self) -> list[str]:
        return [b.text for b in self.buttons]

    @property
    def links(self) -> list[str]:
        return [e["url"] for e in self.entities if e["type"] == "text_link"]

    def button(self, label: str) -> Button:
        for b in self.buttons:
            if b.text == label:
                return b
        raise AssertionError(f"no button {label!r} on message {self.message_id}: {self.labels}")

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
            "text": self.text,
        }
        if self.entities:
            data["entities"] = self.entities
        if self.keyboard:
            data["reply_markup"] = {
                "inline_keyboard": [[b.to_api() for b in row] for row in self.keyboard]
            }
        if self.edits:
            data["edit_date"] = self.date
        return data


@dataclass
class CallbackQuery:
    """A button press Telegram handed to the bot, and how the bot answered it."""

    id: str
    user_id: int
    data: str | None
    created: float
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False


@dataclass(frozen=True)
class Call:
    """One Bot API request the double served, with its outcome."""

    method: str
    params: dict[str, Any]
    ok: bool
    error_code: int = 0
    description: str = ""
    at: float = 0.0


@dataclass
class _RateLimit:
    method: str | None
    times: int
    retry_after: int


# Fields whose form values are JSON-serialized objects (aiogram sends them that way).
_JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "entities",
    "link_preview_options",
    "reply_parameters",
    "commands",
    "scope",
}
_INT_FIELDS = {"message_id", "offset", "limit", "timeout", "cache_time", "max_connections"}
_BOOL_FIELDS = {
    "show_alert",
    "drop_pending_updates",
    "disable_notification",
    "disable_web_page_preview",
    "protect_content",
}


def _coerce(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str):
            if key in _JSON_FIELDS:
                try:
                    value = json.loads(value)
                except ValueError:
                    raise bad(f"can't parse {key} JSON object") from None
            elif key in _INT_FIELDS or key == "chat_id":
                try:
                    value = int(value)
                except ValueError:
                    if key != "chat_id":
                        raise bad(f"invalid {key}") from None
            elif key in _BOOL_FIELDS:
                value = value.lower() in ("true", "1")
        out[key] = value
    return out


class TelegramDouble:
    """The Bot API double (see the module doc). Use as a context manager or call
    :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        token: str = "123456789:TEST-token_for-relman-double",  # noqa: S107 - a test token
        *,
        username: str = "relman_test_bot",
        callback_ttl: float = 60.0,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.callback_ttl = callback_ttl
        self._cond = threading.Condition(threading.RLock())
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[int, list[ChatMessage]] = {}
        self._queries: dict[str, CallbackQuery] = {}
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 10_000
        self._next_query = 1
        self._webhook: dict[str, Any] = {}
        self._limits: list[_RateLimit] = []
        self._commands: dict[str, list[dict[str, str]]] = {}
        self._poll_generation = 0
        self._closing = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> TelegramDouble:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="telegram-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> TelegramDouble:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What relman's ``RELMAN_TELEGRAM_API_URL`` should be."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- the test's side: chats, users, inspection ------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "relman",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def add_group(self, chat_id: int, title: str) -> dict[str, Any]:
        """A group chat the bot is a member of (so it may post there)."""
        chat = {"id": chat_id, "type": "group", "title": title}
        with self._cond:
            self._chats[chat_id] = chat
            self._messages.setdefault(chat_id, [])
        return chat

    def user(
        self,
        user_id: int,
        first_name: str,
        *,
        deliver: Delivery,
        last_name: str | None = None,
        language_code: str | None = "ru",
        username: str | None = None,
    ) -> TelegramUser:
        """A Telegram user; their private chat with the bot exists from now on."""
        user = TelegramUser(self, user_id, first_name, last_name, username, language_code, deliver)
        with self._cond:
            self._chats.setdefault(user_id, user.private_chat())
            self._messages.setdefault(user_id, [])
        return user

    def messages(self, chat_id: int, *, from_bot: bool | None = True) -> list[ChatMessage]:
        """The chat's messages, oldest first, by default only the bot's. They are the
        double's live records: an edit shows in them."""
        with self._cond:
            found = list(self._messages.get(chat_id, []))
        return [m for m in found if from_bot is None or m.from_bot == from_bot]

    def message(self, chat_id: int, message_id: int) -> ChatMessage:
        with self._cond:
            for m in self._messages.get(chat_id, []):
                if m.message_id == message_id:
                    return m
        raise AssertionError(f"no message {message_id} in chat {chat_id}")

    def last(self, chat_id: int) -> ChatMessage:
        found = self.messages(chat_id)
        assert found, f"the bot sent nothing to chat {chat_id}"
        return found[-1]

    def query(self, query_id: str) -> CallbackQuery:
        with self._cond:
            return self._queries[query_id]

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            found = list(self._calls)
        return [c for c in found if method is None or c.method.lower() == method.lower()]

    def errors(self) -> list[Call]:
        """Every request the double refused (relman should make none in a passing flow,
        except the ones a test provokes)."""
        return [c for c in self.calls() if not c.ok]

    def webhook(self) -> dict[str, Any]:
        with self._cond:
            return dict(self._webhook)

    def age(self, chat_id: int, message_id: int, hours: float) -> None:
        """Make a message ``hours`` older (to test Telegram's 48-hour edit limit)."""
        with self._cond:
            self.message(chat_id, message_id).date -= int(hours * 3600)

    def commands(self, language_code: str = "") -> list[dict[str, str]]:
        """The commands set for ``language_code`` ("" for everyone else), default scope."""
        with self._cond:
            return list(self._commands.get(language_code, []))

    def rate_limit(
        self, method: str | None = None, *, times: int = 1, retry_after: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` (any method when ``None``) answer 429
        "Too Many Requests: retry after N" with ``parameters.retry_after``."""
        with self._cond:
            self._limits.append(_RateLimit(method.lower() if method else None, times, retry_after))

    def new_update_id(self) -> int:
        with self._cond:
            self._next_update_id += 1
            return self._next_update_id

    def new_query(self, user_id: int, data: str | None) -> str:
        with self._cond:
            query_id = f"{self.bot_id}{self._next_query:06d}"
            self._next_query += 1
            self._queries[query_id] = CallbackQuery(query_id, user_id, data, time.monotonic())
            return query_id

    def record_user_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        text: str,
        reply_to: ChatMessage | None = None,
    ) -> ChatMessage:
        with self._cond:
            self._chats.setdefault(int(chat["id"]), chat)
            message = ChatMessage(
                message_id=self._next_message_id(int(chat["id"])),
                chat=chat,
                sender=sender,
                date=int(time.time()),
                text=text,
                from_bot=False,
                reply_to=reply_to.message_id if reply_to is not None else None,
            )
            self._messages.setdefault(int(chat["id"]), []).append(message)
            self._cond.notify_all()
            return message

    def enqueue(self, update: dict[str, Any]) -> None:
        """Queue ``update`` for getUpdates (polling)."""
        with self._cond:
            self._updates.append(update)
            self._cond.notify_all()

    def push(self, update: dict[str, Any]) -> int | None:
        """Deliver ``update`` as Telegram would: POST it to the registered webhook with the
        secret header (returns the status code), else queue it for getUpdates."""
        hook = self.webhook()
        if not hook.get("url"):
            self.enqueue(update)
            return None
        headers = {}
        if hook.get("secret_token"):
            headers[SECRET_HEADER] = hook["secret_token"]
        response = httpx.post(
            hook["url"], json=update, headers=headers, timeout=10, trust_env=False
        )
        return response.status_code

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Block until ``predicate()`` is truthy (checked on every change); its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not within {timeout}s: {predicate}")
                self._cond.wait(min(left, 0.5))

    async def until(self, predicate: Callable[[], Any], deadline_s: float = 15.0) -> Any:
        """:meth:`wait_for` for async tests: polls every 20 ms up to the deadline without
        blocking the event loop (relman may be running in it)."""
        deadline = time.monotonic() + deadline_s
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"not within {deadline_s}s: {predicate}")
            await asyncio.sleep(0.02)  # poll interval, bounded by the deadline

    # --- the Bot API ------------------------------------------------------------------

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Serve one request; returns (HTTP status, JSON body)."""
        name = method.lower()
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            handler = _METHODS.get(name)
            if handler is None:
                raise ApiError(404, "Not Found")
            self._check_rate_limit(name)
            result = handler(self, _coerce(params))
        except ApiError as exc:
            self._log(Call(method, params, False, exc.code, exc.description, time.monotonic()))
            return exc.code, exc.body()
        self._log(Call(method, params, True, at=time.monotonic()))
        return 200, {"ok": True, "result": result}

    def _log(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _check_rate_limit(self, name: str) -> None:
        with self._cond:
            for limit in self._limits:
                if limit.times > 0 and limit.method in (None, name):
                    limit.times -= 1
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {limit.retry_after}",
                        retry_after=limit.retry_after,
                    )

    def _next_message_id(self, chat_id: int) -> int:
        return len(self._messages.get(chat_id, [])) + 1

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise bad("chat not found")
        return self._chats[chat_id]

    def _text(self, params: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
        source = params.get("text")
        if not isinstance(source, str) or not source.strip():
            raise bad("message text is empty")
        mode = (params.get("parse_mode") or "").lower()
        if mode == "html":
            plain, entities = parse_html(source)
        elif mode == "":
            plain, entities = source, list(params.get("entities") or [])
        else:
            raise bad(f"the double does not support parse_mode {params['parse_mode']!r}")
        if not plain.strip():
            raise bad("message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise bad("message is too long")
        return source, plain, entities

    def _force_reply(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "force_reply" not in markup:
            return None
        if markup.get("force_reply") is not True:
            raise bad("can't parse reply keyboard markup JSON object")
        placeholder = markup.get("input_field_placeholder")
        if placeholder is not None and not 1 <= len(str(placeholder)) <= 64:
            raise bad("REPLY_MARKUP_INVALID")
        return dict(markup)

    def _keyboard(self, params: dict[str, Any]) -> list[list[Button]]:
        markup = params.get("reply_markup")
        if markup is None:
            return []
        if isinstance(markup, dict) and "force_reply" in markup:
            raise bad("inline keyboard expected")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            raise bad("the double only supports inline keyboards")
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        keyboard: list[list[Button]] = []
        for row in rows:
            buttons = []
            for raw in row:
                text = raw.get("text")
                if not isinstance(text, str) or not text:
                    raise bad("text buttons are unallowed in the inline keyboard")
                data, url = raw.get("callback_data"), raw.get("url")
                if (data is None) == (url is None):
                    raise bad("text buttons are unallowed in the inline keyboard")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise bad("BUTTON_DATA_INVALID")
                if url is not None and not str(url).startswith(("https://", "http://", "tg://")):
                    raise bad("BUTTON_URL_INVALID")
                buttons.append(Button(text, data, url))
            keyboard.append(buttons)
        return [row for row in keyboard if row]

    def _find(self, params: dict[str, Any]) -> ChatMessage:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if params.get("inline_message_id"):
            raise bad("the double does not support inline messages")
        self._chat(chat_id)
        for m in self._messages.get(chat_id, []):
            if m.message_id == message_id:
                if not m.from_bot or time.time() - m.date > EDITABLE_FOR:
                    raise bad("message can't be edited")
                return m
        raise bad("message to edit not found")

    # Methods (each gets coerced params, returns the result or raises ApiError).

    def get_me(self, _params: dict[str, Any]) -> Any:
        return self.bot_user()

    def send_message(self, params: dict[str, Any]) -> Any:
        with self._cond:
            chat = self._chat(params.get("chat_id"))
            html, plain, entities = self._text(params)
            force_reply = self._force_reply(params)
            keyboard = [] if force_reply is not None else self._keyboard(params)
            message = ChatMessage(
                message_id=self._next_message_id(chat["id"]),
                chat=chat,
                sender=self.bot_user(),
                date=int(time.time()),
                text=plain,
                html=html,
                entities=entities,
                keyboard=keyboard,
                force_reply=force_reply,
            )
            self._messages.setdefault(chat["id"], []).append(message)
            self._cond.notify_all()
            return message.to_api()

    def edit_message_text(self, params: dict[str, Any]) -> Any:
        with self._cond:
            message = self._find(params)
            html, plain, entities = self._text(params)
            keyboard = self._keyboard(params)  # omitted: the keyboard is removed
            if (plain, entities, keyboard) == (message.text, message.entities, message.keyboard):
                raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
            message.text, message.html, message.entities = plain, html, entities
            message.keyboard = keyboard
            message.edits += 1
            self._cond.notify_all()
            return message.to_api()

    def edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        with self._cond:
            message = self._find(params)
            keyboard = self._keyboard(params)
            if keyboard == message.keyboard:
                raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
            message.keyboard = keyboard
            message.edits += 1
            self._cond.notify_all()
            return message.to_api()

    def answer_callback_query(self, params: dict[str, Any]) -> Any:
        with self._cond:
            query = self._queries.get(str(params.get("callback_query_id")))
            expired = query is not None and time.monotonic() - query.created > self.callback_ttl
            if query is None or query.answered or expired:
                raise bad(QUERY_INVALID.removeprefix("Bad Request: "))
            text = params.get("text")
            if text is not None and utf16_len(str(text)) > MAX_ANSWER_TEXT:
                raise bad("MESSAGE_TOO_LONG")
            query.answered = True
            query.answer_text = text
            query.show_alert = bool(params.get("show_alert"))
            self._cond.notify_all()
            return True

    def set_my_commands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not COMMAND.match(str(command.get("command"))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad("LANG_CODE_INVALID")
        scope = params.get("scope")
        if scope is not None and (not isinstance(scope, dict) or scope.get("type") != "default"):
            raise bad("the double supports the default scope only")
        with self._cond:
            self._commands[language] = [
                {"command": str(c["command"]), "description": str(c["description"])}
                for c in commands
            ]
        return True

    def get_my_commands(self, params: dict[str, Any]) -> Any:
        return self.commands(str(params.get("language_code") or ""))

    def set_webhook(self, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return self.delete_webhook(params)
        parts = urlsplit(url)
        loopback = False
        try:
            loopback = ip_address(parts.hostname or "").is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.match(str(secret)):
            raise bad("secret token contains unallowed characters")
        with self._cond:
            self._webhook = {
                "url": url,
                "secret_token": secret,
                "allowed_updates": params.get("allowed_updates"),
            }
            if params.get("drop_pending_updates"):
                self._updates.clear()
            self._poll_generation += 1  # a waiting getUpdates ends with 409
            self._cond.notify_all()
        return True

    def delete_webhook(self, params: dict[str, Any]) -> Any:
        with self._cond:
            self._webhook = {}
            if params.get("drop_pending_updates"):
                self._updates.clear()
            self._cond.notify_all()
        return True

    def get_webhook_info(self, _params: dict[str, Any]) -> Any:
        with self._cond:
            info: dict[str, Any] = {
                "url": self._webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self._webhook.get("allowed_updates"):
                info["allowed_updates"] = self._webhook["allowed_updates"]
            return info

    def get_updates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if not 1 <= limit <= 100:
            limit = 100
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook.get("url"):
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            while True:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = [
                    u for u in self._updates if not allowed or any(kind in u for kind in allowed)
                ]
                if ready or self._closing:
                    return ready[:limit]
                if self._poll_generation != generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(min(left, 0.5))


_METHODS: dict[str, Callable[[TelegramDouble, dict[str, Any]], Any]] = {
    "getme": TelegramDouble.get_me,
    "getupdates": TelegramDouble.get_updates,
    "setwebhook": TelegramDouble.set_webhook,
    "deletewebhook": TelegramDouble.delete_webhook,
    "getwebhookinfo": TelegramDouble.get_webhook_info,
    "sendmessage": TelegramDouble.send_message,
    "editmessagetext": TelegramDouble.edit_message_text,
    "editmessagereplymarkup": TelegramDouble.edit_message_reply_markup,
    "answercallbackquery": TelegramDouble.answer_callback_query,
    "setmycommands": TelegramDouble.set_my_commands,
    "getmycommands": TelegramDouble.get_my_commands,
}

_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")


class _Handler(BaseHTTPRequestHandler):
    owner: TelegramDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the call log instead

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length else b"")

    def _serve(self, body: bytes) -> None:
        url = urlsplit(self.path)
        match = _PATH.match(url.path)
        if match is None:
            status, answer = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        else:
            try:
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                params.update(_body_params(self.headers.get("Content-Type", ""), body))
            except ApiError as exc:
                status, answer = exc.code, exc.body()
            else:
                status, answer = self.owner.handle(match["token"], match["method"], params)
        raw = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def _body_params(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise bad("can't parse JSON body") from None
        if not isinstance(data, dict):
            raise bad("can't parse JSON body")
        return data
    if kind == "application/x-www-form-urlencoded":
        return {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    if kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        params: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                params[str(name)] = payload.decode()
        return params
    raise bad(f"unsupported Content-Type {kind!r}")


# --- the user's side --------------------------------------------------------------------

#: How an update reaches relman; returns the HTTP status when it was posted somewhere.
Delivery = Callable[[dict[str, Any]], Awaitable[int | None]]


class WebhookPoster:
    """Posts updates to relman's webhook like Telegram does (JSON body, secret header)."""

    def __init__(self, client: httpx.AsyncClient, url: str, secret: str | None) -> None:
        self.client = client
        self.url = url
        self.secret = secret

    async def __call__(self, update: dict[str, Any]) -> int:
        headers = {SECRET_HEADER: self.secret} if self.secret is not None else {}
        response = await self.client.post(self.url, json=update, headers=headers)
        return response.status_code


def via_telegram(double: TelegramDouble) -> Delivery:
    """Delivery through the double itself (webhook POST or the getUpdates queue)."""

    async def deliver(update: dict[str, Any]) -> int | None:
        return await asyncio.to_thread(double.push, update)

    return deliver


@dataclass
class TelegramUser:
    """A person using Telegram: sends texts and presses buttons (see module doc)."""

    double: TelegramDouble
    id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None
    deliver: Delivery

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    def private_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    def text_update(
        self,
        text: str,
        chat: dict[str, Any] | None = None,
        *,
        reply_to: ChatMessage | None = None,
    ) -> dict[str, Any]:
        """Record ``text`` as sent by this user in ``chat`` (default: the private chat
        with the bot), as a reply to ``reply_to`` when given, and return the update
        Telegram would send for it."""
        chat = chat or self.private_chat()
        message = self.double.record_user_message(chat, self.to_api(), text, reply_to)
        data = message.to_api()
        if reply_to is not None:
            data["reply_to_message"] = reply_to.to_api()
        if text.startswith("/"):
            command = text.split()[0]
            data["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        return {"update_id": self.double.new_update_id(), "message": data}

    def press_update(
        self, message: ChatMessage, label: str | None = None, *, data: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """The update for pressing button ``label`` of ``message`` (or sending ``data``
        as a modified client could), and the callback query's id."""
        if data is None:
            assert label is not None
            data = message.button(label).callback_data
        query_id = self.double.new_query(self.id, data)
        current = self.double.message(message.chat_id, message.message_id)
        update = {
            "update_id": self.double.new_update_id(),
            "callback_query": {
                "id": query_id,
                "from": self.to_api(),
                "message": current.to_api(),
                "chat_instance": f"ci{message.chat_id}",
                "data": data,
            },
        }
        return update, query_id

    async def send(
        self,
        text: str,
        chat: dict[str, Any] | None = None,
        *,
        reply_to: ChatMessage | None = None,
    ) -> dict[str, Any]:
        """Send ``text`` (as a reply to ``reply_to``) and deliver the update (asserting a
        200 when posted)."""
        update = self.text_update(text, chat, reply_to=reply_to)
        await self._deliver(update)
        return update

    async def press(
        self, message: ChatMessage, label: str | None = None, *, data: str | None = None
    ) -> str:
        """Press a button and deliver the update; returns the callback query id."""
        update, query_id = self.press_update(message, label, data=data)
        await self._deliver(update)
        return query_id

    async def _deliver(self, update: dict[str, Any]) -> None:
        status = await self.deliver(update)
        assert status in (None, 200), f"webhook answered {status}"
