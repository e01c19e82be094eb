"""The dashboard's words in Russian and English.

Statuses, their emoji, the decision buttons and the rollback confirmation are the bot's
(:mod:`relman.bot.texts`), so a person sees the same labels in the chat and the browser;
this table only adds what a web page needs besides. The language follows the browser's
``Accept-Language`` (by preference weight), else the configured default.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from relman.bot.texts import LANGUAGES as BOT_LANGUAGES
from relman.bot.texts import Texts

RU: Mapping[str, str] = MappingProxyType(
    {
        "nav_releases": "Релизы",
        "nav_decisions": "Решения",
        "nav_environments": "Окружения",
        "nav_docs": "API",
        "signed_in_as": "Вы вошли как",
        "sign_out": "Выйти",
        "sign_in": "Войти",
        "signin_title": "Вход в relman",
        "signin_how": "Паролей здесь нет: вход по одноразовой ссылке, она действует 5 минут.",
        "signin_bot": "В Telegram: напишите боту команду /web — он пришлёт ссылку.",
        "signin_cli": "На сервере: выполните команду",
        "signin_confirm": "Ссылка для входа как {who}. Нажмите, чтобы войти:",
        "signin_bad": "Не получилось войти",
        "signin_again": "Попросите новую ссылку у бота (/web) или командой relman web login-link.",
        "all": "Все",
        "group": "Группа",
        "group_active": "🚀 Активные",
        "group_successful": "✅ Успешные",
        "group_failed": "❌ Провальные",
        "service": "Сервис",
        "status": "Статус",
        "tag": "Tag",
        "initiator": "Инициатор",
        "created": "Создан",
        "finished": "Завершён",
        "filter": "Показать",
        "reset": "Сбросить",
        "older": "Старее ▶️",
        "newest": "◀️ К новым",
        "live": "В production",
        "empty": "Здесь пока нет релизов.",
        "release": "Релиз",
        "timeline": "История",
        "when": "Когда",
        "from_to": "Переход",
        "who": "Кто",
        "source": "Источник",
        "spent": "Время",
        "note": "Заметка",
        "refused": "отказано",
        "deploys": "Деплои",
        "no_deploys": "Деплоев этого релиза ещё не было.",
        "environment": "Окружение",
        "host": "Хост",
        "hosts": "Хосты",
        "sha": "Коммит",
        "duration": "Длительность",
        "result": "Результат",
        "running": "идёт",
        "succeeded": "успешно",
        "failed": "ошибка",
        "deploy": "деплой",
        "rollback": "откат",
        "log": "Лог деплоя",
        "log_live": "обновляется в реальном времени",
        "log_empty": "Строк лога пока нет.",
        "evidence": "Evidence",
        "file": "Файл",
        "size": "Размер",
        "download": "Скачать",
        "verified": "совпадает с SHA256SUMS",
        "mismatch": "НЕ совпадает с SHA256SUMS",
        "github_action": "GitHub Action",
        "open": "Открыть",
        "reason": "Причина",
        "reason_hint": "Что не так (попадёт в аудит)",
        "decide": "Решение",
        "waiting": "Ждут решения QA",
        "waiting_none": "Сейчас ни один релиз не ждёт решения QA.",
        "production": "Production",
        "production_none": "В production нет релиза этого сервиса.",
        "rollback_to": "Откатить на",
        "rollback_choose": "Выберите версию",
        "rollback_none": "Откатывать не на что: других успешных деплоев production нет.",
        "rollback_this": "⏪ Откатить production на эту версию",
        "no_role": "У вас нет роли для этого действия.",
        "environments": "Что где работает",
        "health": "Health",
        "healthy": "здоров",
        "unhealthy": "не здоров",
        "unknown": "неизвестно",
        "since": "С",
        "by": "Кем",
        "deploying_now": "деплой идёт",
        "nothing_here": "ничего не задеплоено",
        "checked": "проверен",
        "no_services": "В relman.toml нет сервисов.",
        "not_found": "Не найдено",
        "not_found_text": "Такой страницы или релиза нет.",
        "forbidden": "Отказано",
        "csrf": "Запрос отклонён: устаревшая или чужая форма (CSRF). Обновите страницу.",
        "moved": "Пока вы смотрели, релиз изменился — ничего не записано.",
        "error": "Ошибка",
        "back": "Назад",
        "done_approved": "✅ Подтверждено: запускаю деплой на production",
        "done_rejected": "❌ Релиз отклонён",
        "done_rollback": "⏪ Откат запущен",
        "signed_out": "Вы вышли.",
        "minutes": "мин",
        "seconds": "с",
        "hours": "ч",
        "days": "д",
        "bot_link": (
            "🔐 <b>Вход в веб-панель relman</b>\n\n"
            "Одноразовая ссылка, действует 5 минут, входит как {who}:\n{link}"
        ),
        "bot_link_open": "Открыть relman",
        "bot_private": "🔐 Ссылку для входа пришлю только в личном чате: напишите мне /web там.",
    }
)

EN: Mapping[str, str] = MappingProxyType(
    {
        "nav_releases": "Releases",
        "nav_decisions": "Decisions",
        "nav_environments": "Environments",
        "nav_docs": "API",
        "signed_in_as": "Signed in as",
        "sign_out": "Sign out",
        "sign_in": "Sign in",
        "signin_title": "Sign in to relman",
        "signin_how": (
            "There are no passwords here: you sign in with a one-time link, valid for 5 minutes."
        ),
        "signin_bot": "In Telegram: send the bot /web and it replies with a link.",
        "signin_cli": "On the server: run",
        "signin_confirm": "A sign-in link for {who}. Press to sign in:",
        "signin_bad": "Could not sign you in",
        "signin_again": "Ask for a new link: /web in the bot, or relman web login-link.",
        "all": "All",
        "group": "Group",
        "group_active": "🚀 Active",
        "group_successful": "✅ Successful",
        "group_failed": "❌ Failed",
        "service": "Service",
        "status": "Status",
        "tag": "Tag",
        "initiator": "Initiator",
        "created": "Created",
        "finished": "Finished",
        "filter": "Show",
        "reset": "Reset",
        "older": "Older ▶️",
        "newest": "◀️ Newest",
        "live": "In production",
        "empty": "No releases here yet.",
        "release": "Release",
        "timeline": "Timeline",
        "when": "When",
        "from_to": "Step",
        "who": "Who",
        "source": "Source",
        "spent": "Took",
        "note": "Note",
        "refused": "refused",
        "deploys": "Deploys",
        "no_deploys": "No deploys of this release yet.",
        "environment": "Environment",
        "host": "Host",
        "hosts": "Hosts",
        "sha": "Commit",
        "duration": "Duration",
        "result": "Result",
        "running": "running",
        "succeeded": "succeeded",
        "failed": "failed",
        "deploy": "deploy",
        "rollback": "rollback",
        "log": "Deploy log",
        "log_live": "live",
        "log_empty": "No log lines yet.",
        "evidence": "Evidence",
        "file": "File",
        "size": "Size",
        "download": "Download",
        "verified": "matches SHA256SUMS",
        "mismatch": "does NOT match SHA256SUMS",
        "github_action": "GitHub Action",
        "open": "Open",
        "reason": "Reason",
        "reason_hint": "What is wrong (goes into the audit trail)",
        "decide": "Decision",
        "waiting": "Waiting for QA",
        "waiting_none": "No release is waiting for QA right now.",
        "production": "Production",
        "production_none": "No release of this service is in production.",
        "rollback_to": "Roll back to",
        "rollback_choose": "Choose a version",
        "rollback_none": "Nothing to roll back to: no other healthy production deploy.",
        "rollback_this": "⏪ Roll production back to this version",
        "no_role": "You do not have the role for this.",
        "environments": "What runs where",
        "health": "Health",
        "healthy": "healthy",
        "unhealthy": "unhealthy",
        "unknown": "unknown",
        "since": "Since",
        "by": "By",
        "deploying_now": "deploying now",
        "nothing_here": "nothing deployed",
        "checked": "checked",
        "no_services": "No services in relman.toml.",
        "not_found": "Not found",
        "not_found_text": "There is no such page or release.",
        "forbidden": "Refused",
        "csrf": "Request refused: an outdated or foreign form (CSRF). Reload the page.",
        "moved": "The release changed while you were looking — nothing was written.",
        "error": "Error",
        "back": "Back",
        "done_approved": "✅ Approved: deploying to production",
        "done_rejected": "❌ Release rejected",
        "done_rollback": "⏪ Rollback started",
        "signed_out": "You are signed out.",
        "minutes": "min",
        "seconds": "s",
        "hours": "h",
        "days": "d",
        "bot_link": (
            "🔐 <b>Sign in to the relman dashboard</b>\n\n"
            "A one-time link, valid for 5 minutes, signing you in as {who}:\n{link}"
        ),
        "bot_link_open": "Open relman",
        "bot_private": "🔐 I only send sign-in links in a private chat: send me /web there.",
    }
)

WEB_LANGUAGES: Mapping[str, Mapping[str, str]] = MappingProxyType({"ru": RU, "en": EN})


def language_of(accept_language: str | None, default: str = "ru") -> str:
    """The best of ``ru``/``en`` for an ``Accept-Language`` header (``en-US,en;q=0.9,ru;
    q=0.8``), by weight then order; ``default`` when neither is asked for."""
    best: tuple[float, int, str] | None = None
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-", 1)[0].lower()
        if primary not in WEB_LANGUAGES:
            continue
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        if weight <= 0:
            continue
        candidate = (-weight, index, primary)
        if best is None or candidate < best:
            best = candidate
    if best is not None:
        return best[2]
    return default if default in WEB_LANGUAGES else "ru"


def texts(language: str) -> tuple[Mapping[str, str], Texts]:
    """The web texts and the bot's texts of ``language``."""
    return WEB_LANGUAGES[language], BOT_LANGUAGES[language]
