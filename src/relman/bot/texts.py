"""Every text the bot shows, one table per language.

Russian follows seed 003 ("Telegram Bot интерфейс", "Для QA инженеров") word for word,
emoji included; English says the same. Texts with ``{placeholders}`` are filled by
:mod:`relman.bot.cards` with values that are already HTML-escaped there; nothing here is
escaped again, so a text must not contain a bare ``<``, ``>`` or ``&`` except as markup.

The language follows the Telegram user's ``language_code`` (``ru``, ``en``, ``ru-RU`` …)
and falls back to the configured default (``RELMAN_TELEGRAM_LANGUAGE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from relman.domain.status import ReleaseStatus

S = ReleaseStatus


@dataclass(frozen=True, slots=True)
class Texts:
    """The bot's words in one language. Field names say where each one is used."""

    language: str

    # Main menu (seed 003, "Главное меню").
    menu: str  # {name}
    btn_active: str
    btn_successful: str
    btn_failed: str

    # List headers and the card (seed 003, "Активные релизы" / "Успешные релизы").
    head_active: str
    head_successful: str
    head_failed: str
    head_release: str  # a card outside any list (opened from a notification)
    empty: str
    card_service: str  # {service}
    card_tag: str  # {tag}
    card_status: str  # {status}
    card_initiator: str  # {initiator}
    card_created: str  # {when}
    card_deployed: str  # {when}
    card_finished: str  # {when}
    card_link: str  # {link}
    link_open: str
    card_age: str  # {minutes}
    card_rollback_to: str  # {tag}
    card_reason: str  # {reason}
    card_log: str  # {path}
    card_artifact: str  # {link}: a runner's uploaded deploy log and evidence

    # Card buttons.
    btn_approve: str
    btn_reject: str
    btn_rollback: str
    btn_refresh: str
    btn_menu: str
    btn_newer: str
    btn_older: str

    # Rollback confirmation (seed 003, "Процесс отката").
    confirm: str  # {service} {current} {target} {when}
    confirm_same: str  # {service} {tag}
    confirm_nothing: str  # {service}
    btn_confirm_yes: str
    btn_back: str

    # Notifications (seed 003 "Получение уведомления"; seed 000: tell the team).
    notice_ready: str  # {service} {tag} {initiator} {link}
    link_word: str
    notice_head: Mapping[str, str]  # NoticeKind value -> header line
    notice_dev: str  # {service} {ref} {detail}
    notice_dev_failed: str  # {service} {ref} {detail}

    # Callback answers (at most 200 characters; plain text, never HTML).
    ok_refreshed: str
    ok_approved: str
    ok_rejected: str
    ok_rollback: str
    no_permission: str
    no_longer: str  # {status}
    busy: str
    not_found: str
    bad_button: str
    bad_input: str
    no_rollback: str
    rollback_moved: str  # production changed since the rollback confirmation was shown
    unavailable: str
    failed: str

    statuses: Mapping[ReleaseStatus, str]

    # Issue 16: orientation, truth after decisions, reasons, rollback targets, commands.
    tz_names: Mapping[str, str]  # IANA zone -> how dates name it ("МСК"); else its %Z
    card_position: str  # {position} {total}
    card_live: str  # the release now in production
    card_superseded: str  # {tag}: the one in production instead
    card_stage: str  # {link}
    card_emergency: str  # {reason}: an emergency release (issue 14 item 3)
    link_stage: str
    decided_approved: str  # {who} {when}
    decided_rejected: str  # {who} {when}
    rollback_started: str  # {who} {when} {tag}
    outcome_deploying: str
    outcome_deployed: str  # {tag} {took}
    outcome_production_failed: str  # {took}
    outcome_rolling: str  # {tag}
    outcome_rollback_done: str  # {tag} {took}
    outcome_rollback_failed: str  # {took}
    took_seconds: str  # {s}
    took_minutes: str  # {m} {s}
    reason_ask: str  # {service} {tag}
    reasons: tuple[str, ...]  # common rejection reasons, in button order
    btn_reason_other: str
    btn_cancel: str
    reason_reply: str  # {who} {service} {tag}
    reason_placeholder: str  # at most 64 characters (ForceReply)
    ok_write_reason: str
    reason_missing: str
    reason_not_yours: str
    pick_rollback: str  # {service} {current}
    pick_nothing: str  # {service} {current}
    btn_pick: str  # {tag} {when}
    help: str  # {who} {roles}
    role_names: Mapping[str, str]
    no_roles: str
    unknown: str
    release_usage: str
    commands: tuple[tuple[str, str], ...]  # setMyCommands: (command, description)

    def status(self, status: ReleaseStatus) -> str:
        """The status with its emoji and name, e.g. ``🧪 Ручное тестирование``."""
        return self.statuses[status]


_RU_STATUSES = MappingProxyType(
    {
        S.INITIATED: "🆕 Создан",
        S.BUILDING: "🔨 Сборка",
        S.STAGE_DEPLOY: "📤 Деплой на stage",
        S.STAGING_FAILED: "❌ Ошибка на stage",
        S.MANUAL_TESTING: "🧪 Ручное тестирование",
        S.MANUAL_TEST_PASSED: "👍 Тесты пройдены",
        S.MANUAL_TEST_FAILED: "👎 Тесты не пройдены",
        S.DEPLOYING: "🚀 Деплой на production",
        S.DEPLOYED: "✅ Задеплоен",
        S.PRODUCTION_FAILED: "💥 Ошибка production",
        S.ROLLBACK: "⏪ Выполняется откат",
        S.ROLLBACK_DONE: "↩️ Откат выполнен",
        S.ROLLBACK_FAILED: "🔥 Ошибка отката",
    }
)

_EN_STATUSES = MappingProxyType(
    {
        S.INITIATED: "🆕 Created",
        S.BUILDING: "🔨 Building",
        S.STAGE_DEPLOY: "📤 Deploying to stage",
        S.STAGING_FAILED: "❌ Stage failed",
        S.MANUAL_TESTING: "🧪 Manual testing",
        S.MANUAL_TEST_PASSED: "👍 Tests passed",
        S.MANUAL_TEST_FAILED: "👎 Tests failed",
        S.DEPLOYING: "🚀 Deploying to production",
        S.DEPLOYED: "✅ Deployed",
        S.PRODUCTION_FAILED: "💥 Production failed",
        S.ROLLBACK: "⏪ Rolling back",
        S.ROLLBACK_DONE: "↩️ Rolled back",
        S.ROLLBACK_FAILED: "🔥 Rollback failed",
    }
)

RU = Texts(
    language="ru",
    menu=(
        "<b>🤖 Release Bot</b>\n\n"
        "👋 Привет, {name}!\n\n"
        "Я помогу тебе отслеживать и управлять релизами.\n"
        "Здесь ты можешь просматривать активные релизы и управлять ими.\n\n"
        "Выбери действие:"
    ),
    btn_active="🚀 Активные релизы",
    btn_successful="✅ Успешные релизы",
    btn_failed="❌ Провальные релизы",
    head_active="🚀 Активные релизы",
    head_successful="✅ Успешные релизы",
    head_failed="❌ Провальные релизы",
    head_release="📦 Релиз",
    empty="Здесь пока нет релизов.",
    card_service="📦 {service}",
    card_tag="🏷️ Tag: {tag}",
    card_status="🔄 Статус: {status}",
    card_initiator="👤 Инициатор: {initiator}",
    card_created="📅 Создан: {when}",
    card_deployed="🚀 Задеплоен: {when}",
    card_finished="🏁 Завершён: {when}",
    card_link="🔗 GitHub Action: {link}",
    link_open="Открыть",
    card_age="⏱️ В обработке: {minutes} мин",
    card_rollback_to="⏪ Откат на tag: {tag}",
    card_reason="⚠️ Причина: {reason}",
    card_log="📄 Лог: {path}",
    card_artifact="📦 Лог и доказательства деплоя: {link}",
    btn_approve="✅ Подтвердить",
    btn_reject="❌ Отклонить",
    btn_rollback="⏪ Откатить",
    btn_refresh="🔄 Обновить",
    btn_menu="⬅️ Назад в меню",
    btn_newer="◀️ Новее",
    btn_older="Старее ▶️",
    confirm=(
        "<b>⚠️ Подтверждение отката</b>\n\n"
        "❗ ВНИМАНИЕ! Вы собираетесь откатить релиз!\n\n"
        "📦 Сервис: {service}\n"
        "🏷️ Текущий tag: {current}\n"
        "⏪ Откатить на tag: {target}\n"
        "📅 Дата деплоя выбранной версии: {when}\n\n"
        "⚠️ Это действие приведет к откату сервиса на выбранную версию.\n"
        "⚠️ Убедитесь, что откат действительно необходим!"
    ),
    confirm_same=(
        "<b>⚠️ Подтверждение отката</b>\n\n"
        "📦 Сервис: {service}\n"
        "ℹ️ В production уже работает tag {tag}: откатывать не на что."
    ),
    confirm_nothing=(
        "<b>⚠️ Подтверждение отката</b>\n\n"
        "📦 Сервис: {service}\n"
        "ℹ️ Сейчас в production нет релиза этого сервиса: откатывать нечего."
    ),
    btn_confirm_yes="✅ Да, откатить",
    btn_back="Назад",
    notice_ready=(
        "<b>🚀 Новый релиз готов к тестированию</b>\n"
        "📦 Сервис: {service}\n"
        "🏷️ Версия: {tag}\n"
        "👤 Инициатор: {initiator}\n"
        "🔗 GitHub Action: {link}"
    ),
    link_word="ссылка",
    notice_head=MappingProxyType(
        {
            "deployed": "✅ Релиз задеплоен на production",
            "production_failed": "💥 Ошибка деплоя на production",
            "rollback_done": "↩️ Откат выполнен",
            "rollback_failed": "🔥 Ошибка при выполнении отката",
            "staging_failed": "❌ Ошибка деплоя на stage",
            "rejected": "👎 Релиз отклонён QA",
            "interrupted": "⛔ Деплой прерван: relman перезапущен",
            "incident_opened": "🚨 Инцидент на production",
            "incident_resolved": "🩹 Инцидент решён: сервис восстановлен",
            "emergency": "⚠️ Принудительный релиз: без ручного тестирования",
        }
    ),
    notice_dev="🧑‍💻 Dev-сервер обновлён\n📦 Сервис: {service}\n🌿 Ветка: {ref}{detail}",
    notice_dev_failed=(
        "❌ Ошибка обновления dev-сервера\n📦 Сервис: {service}\n🌿 Ветка: {ref}{detail}"
    ),
    ok_refreshed="🔄 Обновлено",
    ok_approved="✅ Подтверждено: запускаю деплой на production",
    ok_rejected="❌ Релиз отклонён",
    ok_rollback="⏪ Откат запущен",
    no_permission="⛔ Недостаточно прав для этого действия",
    no_longer="⚠️ Уже неактуально: статус релиза — {status}",
    busy="⏳ Сервис занят другим деплоем, попробуйте позже",
    not_found="❓ Релиз не найден",
    bad_button="⚠️ Эта кнопка устарела или недействительна",
    bad_input="⚠️ Некорректный запрос",
    no_rollback="⚠️ Откатить на эту версию нельзя: её нет среди успешных деплоев production",
    rollback_moved="⚠️ В продакшене уже другая версия — откройте откат заново",
    unavailable="⏳ Сервис временно недоступен, попробуйте позже",
    failed="⚠️ Не получилось выполнить действие",
    statuses=_RU_STATUSES,
    tz_names=MappingProxyType({"Europe/Moscow": "МСК", "UTC": "UTC", "Etc/UTC": "UTC"}),
    card_position="{position}/{total}",
    card_live="🟢 Сейчас в production",
    card_superseded="⚪ Заменён: в production сейчас {tag}",
    card_stage="🧪 Stage: {link}",
    card_emergency="⚠️ Принудительный релиз, без ручного тестирования: {reason}",
    link_stage="открыть",
    decided_approved="✅ Подтвердил: {who} · {when}",
    decided_rejected="❌ Отклонил: {who} · {when}",
    rollback_started="⏪ Откат на {tag} запустил: {who} · {when}",
    outcome_deploying="🚀 Идёт деплой на production…",
    outcome_deployed="✅ Задеплоен: в production {tag} · заняло {took}",
    outcome_production_failed="💥 Деплой на production не удался · заняло {took}",
    outcome_rolling="⏪ Идёт откат на {tag}…",
    outcome_rollback_done="✅ Откат выполнен: в production {tag} · заняло {took}",
    outcome_rollback_failed="❌ Откат не удался · заняло {took}",
    took_seconds="{s} с",
    took_minutes="{m} мин {s} с",
    reason_ask=(
        "<b>❌ Отклонение релиза</b>\n\n"
        "📦 Сервис: {service}\n"
        "🏷️ Версия: {tag}\n\n"
        "Почему релиз не прошёл тестирование? Выберите причину или «Другое…»."
    ),
    reasons=(
        "Не работает функционал",
        "Ошибки или падения",
        "Проблемы с вёрсткой / UI",
        "Не то, что просили",
    ),
    btn_reason_other="✍️ Другое…",
    btn_cancel="↩️ Отмена",
    reason_reply=("✍️ {who}, напишите причину отклонения {service} {tag} ответом на это сообщение."),
    reason_placeholder="Почему релиз отклонён",
    ok_write_reason="✍️ Напишите причину ответом на сообщение",
    reason_missing="⚠️ Напишите причину текстом — релиз ещё на тестировании",
    reason_not_yours="⚠️ Этот вопрос не вам: чтобы отклонить, нажмите ❌ Отклонить сами",
    pick_rollback=(
        "<b>⏪ Откат</b>\n\n"
        "📦 Сервис: {service}\n"
        "🟢 Сейчас в production: {current}\n\n"
        "На какую версию откатить? Здоровые деплои production, новые первыми:"
    ),
    pick_nothing=(
        "<b>⏪ Откат</b>\n\n"
        "📦 Сервис: {service}\n"
        "🟢 Сейчас в production: {current}\n\n"
        "ℹ️ Других версий, которые relman разворачивал в production без ошибок, нет: "
        "откатывать не на что."
    ),
    btn_pick="{tag} · {when}",
    help=(
        "<b>🤖 Release Bot</b>\n\n"
        "Я веду релизы: тег → stage → ручное тестирование → production, и откаты.\n\n"
        "/start — главное меню: активные, успешные и провальные релизы\n"
        "/releases — активные релизы\n"
        "/release 12 — карточка релиза 12\n"
        "/web — вход в веб-панель\n"
        "/help — эта справка\n\n"
        "QA подтверждает или отклоняет релиз (с причиной) после проверки на stage; "
        "releaser откатывает production на прежнюю версию.\n\n"
        "👤 Вы: {who}\n"
        "🔑 Ваши роли: {roles}"
    ),
    role_names=MappingProxyType(
        {"qa": "QA (подтверждать и отклонять)", "releaser": "releaser (откаты)", "admin": "admin"}
    ),
    no_roles="нет — только просмотр",
    unknown="🤷 Не понимаю это сообщение. Что я умею — /help",
    release_usage="⚠️ Укажите номер релиза: /release 12",
    commands=(
        ("start", "Главное меню"),
        ("releases", "Активные релизы"),
        ("release", "Карточка релиза: /release 12"),
        ("web", "Вход в веб-панель"),
        ("help", "Что умеет бот и ваши роли"),
    ),
)

EN = Texts(
    language="en",
    menu=(
        "<b>🤖 Release Bot</b>\n\n"
        "👋 Hi, {name}!\n\n"
        "I help you track and manage releases.\n"
        "Here you can browse active releases and act on them.\n\n"
        "Choose an action:"
    ),
    btn_active="🚀 Active releases",
    btn_successful="✅ Successful releases",
    btn_failed="❌ Failed releases",
    head_active="🚀 Active releases",
    head_successful="✅ Successful releases",
    head_failed="❌ Failed releases",
    head_release="📦 Release",
    empty="No releases here yet.",
    card_service="📦 {service}",
    card_tag="🏷️ Tag: {tag}",
    card_status="🔄 Status: {status}",
    card_initiator="👤 Initiator: {initiator}",
    card_created="📅 Created: {when}",
    card_deployed="🚀 Deployed: {when}",
    card_finished="🏁 Finished: {when}",
    card_link="🔗 GitHub Action: {link}",
    link_open="Open",
    card_age="⏱️ In progress: {minutes} min",
    card_rollback_to="⏪ Rollback to tag: {tag}",
    card_reason="⚠️ Reason: {reason}",
    card_log="📄 Log: {path}",
    card_artifact="📦 Deploy log and evidence: {link}",
    btn_approve="✅ Approve",
    btn_reject="❌ Reject",
    btn_rollback="⏪ Roll back",
    btn_refresh="🔄 Refresh",
    btn_menu="⬅️ Back to menu",
    btn_newer="◀️ Newer",
    btn_older="Older ▶️",
    confirm=(
        "<b>⚠️ Confirm rollback</b>\n\n"
        "❗ WARNING! You are about to roll back a release!\n\n"
        "📦 Service: {service}\n"
        "🏷️ Current tag: {current}\n"
        "⏪ Roll back to tag: {target}\n"
        "📅 Deployed on: {when}\n\n"
        "⚠️ This puts the service back on the chosen version.\n"
        "⚠️ Make sure the rollback is really needed!"
    ),
    confirm_same=(
        "<b>⚠️ Confirm rollback</b>\n\n"
        "📦 Service: {service}\n"
        "ℹ️ Production already runs tag {tag}: nothing to roll back to."
    ),
    confirm_nothing=(
        "<b>⚠️ Confirm rollback</b>\n\n"
        "📦 Service: {service}\n"
        "ℹ️ No release of this service is in production: nothing to roll back."
    ),
    btn_confirm_yes="✅ Yes, roll back",
    btn_back="Back",
    notice_ready=(
        "<b>🚀 A new release is ready for testing</b>\n"
        "📦 Service: {service}\n"
        "🏷️ Version: {tag}\n"
        "👤 Initiator: {initiator}\n"
        "🔗 GitHub Action: {link}"
    ),
    link_word="link",
    notice_head=MappingProxyType(
        {
            "deployed": "✅ Release deployed to production",
            "production_failed": "💥 Production deploy failed",
            "rollback_done": "↩️ Rollback done",
            "rollback_failed": "🔥 Rollback failed",
            "staging_failed": "❌ Stage deploy failed",
            "rejected": "👎 Release rejected by QA",
            "interrupted": "⛔ Deploy interrupted: relman restarted",
            "incident_opened": "🚨 Production incident",
            "incident_resolved": "🩹 Incident resolved: service restored",
            "emergency": "⚠️ Emergency release: no manual testing",
        }
    ),
    notice_dev="🧑‍💻 Dev server updated\n📦 Service: {service}\n🌿 Branch: {ref}{detail}",
    notice_dev_failed=(
        "❌ Dev server update failed\n📦 Service: {service}\n🌿 Branch: {ref}{detail}"
    ),
    ok_refreshed="🔄 Refreshed",
    ok_approved="✅ Approved: deploying to production",
    ok_rejected="❌ Release rejected",
    ok_rollback="⏪ Rollback started",
    no_permission="⛔ You are not allowed to do this",
    no_longer="⚠️ No longer possible: the release is {status}",
    busy="⏳ The service is busy with another deploy, try again later",
    not_found="❓ Release not found",
    bad_button="⚠️ This button is outdated or invalid",
    bad_input="⚠️ Invalid request",
    no_rollback="⚠️ Cannot roll back to this version: it never ran healthy in production",
    rollback_moved="⚠️ Production is on another version now — open the rollback again",
    unavailable="⏳ Temporarily unavailable, try again later",
    failed="⚠️ Could not do that",
    statuses=_EN_STATUSES,
    tz_names=MappingProxyType({"Europe/Moscow": "MSK", "UTC": "UTC", "Etc/UTC": "UTC"}),
    card_position="{position}/{total}",
    card_live="🟢 Live in production",
    card_superseded="⚪ Superseded: production runs {tag}",
    card_stage="🧪 Stage: {link}",
    card_emergency="⚠️ Emergency release, no manual testing: {reason}",
    link_stage="open",
    decided_approved="✅ Approved by {who} · {when}",
    decided_rejected="❌ Rejected by {who} · {when}",
    rollback_started="⏪ Rollback to {tag} started by {who} · {when}",
    outcome_deploying="🚀 Deploying to production…",
    outcome_deployed="✅ Deployed: production runs {tag} · took {took}",
    outcome_production_failed="💥 Production deploy failed · took {took}",
    outcome_rolling="⏪ Rolling back to {tag}…",
    outcome_rollback_done="✅ Rolled back: production runs {tag} · took {took}",
    outcome_rollback_failed="❌ Rollback failed · took {took}",
    took_seconds="{s} s",
    took_minutes="{m} min {s} s",
    reason_ask=(
        "<b>❌ Rejecting a release</b>\n\n"
        "📦 Service: {service}\n"
        "🏷️ Version: {tag}\n\n"
        "Why did it fail testing? Pick a reason or “Other…”."
    ),
    reasons=(
        "A feature does not work",
        "Errors or crashes",
        "Layout / UI problems",
        "Not what was asked for",
    ),
    btn_reason_other="✍️ Other…",
    btn_cancel="↩️ Cancel",
    reason_reply="✍️ {who}, reply to this message with why {service} {tag} is rejected.",
    reason_placeholder="Why the release is rejected",
    ok_write_reason="✍️ Reply to the message with the reason",
    reason_missing="⚠️ Write the reason as text — the release is still in testing",
    reason_not_yours="⚠️ This question is for someone else: to reject, press ❌ Reject yourself",
    pick_rollback=(
        "<b>⏪ Rollback</b>\n\n"
        "📦 Service: {service}\n"
        "🟢 Live in production: {current}\n\n"
        "Which version should production go back to? Healthy production deploys, newest first:"
    ),
    pick_nothing=(
        "<b>⏪ Rollback</b>\n\n"
        "📦 Service: {service}\n"
        "🟢 Live in production: {current}\n\n"
        "ℹ️ relman never deployed another version to production healthy: nothing to roll "
        "back to."
    ),
    btn_pick="{tag} · {when}",
    help=(
        "<b>🤖 Release Bot</b>\n\n"
        "I run releases: tag → stage → manual testing → production, and rollbacks.\n\n"
        "/start — the main menu: active, successful and failed releases\n"
        "/releases — active releases\n"
        "/release 12 — the card of release 12\n"
        "/web — sign in to the web dashboard\n"
        "/help — this help\n\n"
        "QA approves or rejects a release (with a reason) after testing it on stage; a "
        "releaser puts production back on an earlier version.\n\n"
        "👤 You: {who}\n"
        "🔑 Your roles: {roles}"
    ),
    role_names=MappingProxyType(
        {"qa": "QA (approve and reject)", "releaser": "releaser (rollbacks)", "admin": "admin"}
    ),
    no_roles="none — read only",
    unknown="🤷 I don't understand this message. What I can do: /help",
    release_usage="⚠️ Give a release number: /release 12",
    commands=(
        ("start", "Main menu"),
        ("releases", "Active releases"),
        ("release", "A release's card: /release 12"),
        ("web", "Sign in to the web dashboard"),
        ("help", "What the bot does and your roles"),
    ),
)

LANGUAGES: Mapping[str, Texts] = MappingProxyType({"ru": RU, "en": EN})


def texts_for(language_code: str | None, default: str = "ru") -> Texts:
    """The texts for a Telegram ``language_code`` (IETF tag: ``ru``, ``en-US`` …); an
    unknown or missing code gives ``default`` (itself ``ru`` when unknown)."""
    if language_code:
        primary = language_code.split("-", 1)[0].split("_", 1)[0].lower()
        if primary in LANGUAGES:
            return LANGUAGES[primary]
    return LANGUAGES.get(default, RU)
