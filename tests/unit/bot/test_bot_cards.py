"""Screens as data: the seed's texts, HTML escaping of everything from outside, Telegram's
limits whatever the data (checked with the Bot API double's own HTML parser)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from relman.bot import cards
from relman.bot.callbacks import Lst, decode, signing_key
from relman.bot.texts import EN, LANGUAGES, RU, Texts, texts_for
from relman.domain.release import Release, ReleaseEvent, Source
from relman.domain.status import ReleaseStatus
from relman.notify import Notice, NoticeKind
from tests.support.telegram_double import MAX_CALLBACK_DATA, MAX_TEXT, parse_html, utf16_len

S = ReleaseStatus
KEY = signing_key("1:t")
NOW = datetime(2024, 3, 15, 14, 45, tzinfo=UTC)


def view(texts: Texts = RU, tz: str = "UTC") -> cards.View:
    return cards.View(texts=texts, key=KEY, now=NOW, tz=ZoneInfo(tz))


def release(status: S = S.MANUAL_TESTING, **changes: object) -> Release:
    r = Release(
        service_name="loom-content",
        release_tag="v1.2.3",
        initiated_by="developer_name",
        github_run_id="9001",
        github_action_link="https://github.com/org/loom-content/actions/runs/9001",
        github_ref="refs/tags/v1.2.3",
        created_at=datetime(2024, 3, 15, 14, 30, tzinfo=UTC),
        started_at=datetime(2024, 3, 15, 14, 30, tzinfo=UTC),
        status=status,
        id=7,
    )
    return dataclasses.replace(r, **changes)  # type: ignore[arg-type]


def plain(screen: cards.Screen) -> str:
    text, _entities = parse_html(screen.text)
    assert 0 < utf16_len(text) <= MAX_TEXT
    if screen.markup is not None:
        for row in screen.markup.inline_keyboard:
            for button in row:
                assert button.callback_data is not None
                assert len(button.callback_data.encode()) <= MAX_CALLBACK_DATA
                decode(KEY, button.callback_data)
    return text


def test_the_active_card_is_the_seeds() -> None:
    screen = cards.card_screen(view(), release(), lst=Lst.ACTIVE, position=0)
    assert plain(screen) == (
        "🚀 Активные релизы\n\n"
        "📦 loom-content\n"
        "🏷️ Tag: v1.2.3\n"
        "🔄 Статус: 🧪 Ручное тестирование\n"
        "👤 Инициатор: developer_name\n"
        "📅 Создан: 15.03.2024 14:30 UTC\n"
        "🔗 GitHub Action: Открыть\n"
        "⏱️ В обработке: 15 мин"
    )
    assert screen.markup is not None
    assert [[b.text for b in row] for row in screen.markup.inline_keyboard] == [
        ["✅ Подтвердить", "❌ Отклонить"],
        ["🔄 Обновить"],
        ["⬅️ Назад в меню"],
    ]


def test_the_successful_card_is_the_seeds() -> None:
    deployed = release(S.DEPLOYED, completed_at=datetime(2024, 3, 14, 10, 45, tzinfo=UTC))
    screen = cards.card_screen(view(), deployed, lst=Lst.SUCCESSFUL, position=0)
    lines = plain(screen).split("\n")
    assert lines[0] == "✅ Успешные релизы"
    assert "🔄 Статус: ✅ Задеплоен" in lines
    assert "🚀 Задеплоен: 14.03.2024 10:45 UTC" in lines
    assert not any(line.startswith("⏱️") for line in lines)
    assert screen.markup is not None
    assert screen.markup.inline_keyboard[0][0].text == "⏪ Откатить"


def test_dates_follow_the_configured_time_zone() -> None:
    text = plain(cards.card_screen(view(tz="Europe/Moscow"), release(), lst=Lst.NONE, position=0))
    assert "📅 Создан: 15.03.2024 17:30 МСК" in text  # issue 16: the zone is named
    english = plain(
        cards.card_screen(view(EN, "Europe/Moscow"), release(), lst=Lst.NONE, position=0)
    )
    assert "📅 Created: 15.03.2024 17:30 MSK" in english


@pytest.mark.parametrize(
    ("status", "log"),
    [
        (S.STAGING_FAILED, "loom-content/v1.2.3.log"),
        (S.PRODUCTION_FAILED, "production/loom-content/v1.2.3-prod.log"),
        (S.ROLLBACK_FAILED, "rollback/loom-content/v1.2.2-rollback.log"),
        (S.MANUAL_TEST_FAILED, None),
    ],
)
def test_a_failed_card_names_the_reason_and_the_log(status: S, log: str | None) -> None:
    event = ReleaseEvent(
        7, S.DEPLOYING, status, "system", Source.WORKER, "health <check> & co", NOW
    )
    failed = release(status, completed_at=NOW, rollback_to_tag="v1.2.2", events=[event])
    text = plain(cards.card_screen(view(), failed, lst=Lst.FAILED, position=0))
    assert "⚠️ Причина: health <check> & co" in text
    assert "🏁 Завершён: 15.03.2024 14:45" in text
    assert (f"📄 Лог: {log}" in text) if log else ("📄 Лог" not in text)


def test_outside_values_are_escaped_and_bounded() -> None:
    nasty = release(
        service_name="<b>svc</b>&amp;" * 100,
        release_tag="v1.0.0-<&>",
        initiated_by='"dev" <script>' * 100,
        github_action_link='https://x.test/"><b>run</b>',
        status=S.PRODUCTION_FAILED,
        events=[
            ReleaseEvent(7, S.DEPLOYING, S.PRODUCTION_FAILED, "s", Source.WORKER, "<" * 5000, NOW)
        ],
    )
    for lst in Lst:
        text = plain(cards.card_screen(view(), nasty, lst=lst, position=3, has_older=True))
        assert "📦 <b>svc</b>&amp;<b>svc</b>" in text
        assert "🏷️ Tag: v1.0.0-<&>" in text
        assert utf16_len(text) < 1600
    _, entities = parse_html(cards.card_screen(view(), nasty, lst=Lst.NONE, position=0).text)
    assert {"type": "text_link", "url": 'https://x.test/"><b>run</b>'}.items() <= next(
        e for e in entities if e["type"] == "text_link"
    ).items()
    notice = cards.notice_screen(view(), Notice(NoticeKind.READY_FOR_TESTING, nasty))
    assert notice is not None
    assert "🏷️ Версия: v1.0.0-<&>" in plain(notice)


def test_only_http_links_are_made() -> None:
    for bad in ("javascript:alert(1)", "ftp://x", "", "https://a b", "https://" + "x" * 600):
        text = plain(
            cards.card_screen(view(), release(github_action_link=bad), lst=Lst.NONE, position=0)
        )
        assert "🔗 GitHub Action: —" in text


def test_the_rollback_confirmation_is_the_seeds() -> None:
    chosen = release(
        S.DEPLOYED, release_tag="v1.2.2", completed_at=datetime(2024, 3, 14, 10, 45, tzinfo=UTC)
    )
    current = release(S.DEPLOYED, release_tag="v1.2.3", id=8)
    screen = cards.confirm_screen(view(), chosen, current, lst=Lst.SUCCESSFUL, position=1)
    assert plain(screen) == (
        "⚠️ Подтверждение отката\n\n"
        "❗ ВНИМАНИЕ! Вы собираетесь откатить релиз!\n\n"
        "📦 Сервис: loom-content\n"
        "🏷️ Текущий tag: v1.2.3\n"
        "⏪ Откатить на tag: v1.2.2\n"
        "📅 Дата деплоя выбранной версии: 14.03.2024 10:45 UTC\n\n"
        "⚠️ Это действие приведет к откату сервиса на выбранную версию.\n"
        "⚠️ Убедитесь, что откат действительно необходим!"
    )
    assert screen.markup is not None
    assert [b.text for b in screen.markup.inline_keyboard[0]] == ["✅ Да, откатить", "Назад"]
    yes = decode(KEY, screen.markup.inline_keyboard[0][0].callback_data)
    assert (yes.release_id, yes.current_id) == (7, 8)  # bound to the release now in production
    same = cards.confirm_screen(view(), chosen, chosen, lst=Lst.SUCCESSFUL, position=1)
    assert same.markup is not None and [b.text for b in same.markup.inline_keyboard[0]] == ["Назад"]
    nothing = cards.confirm_screen(view(), chosen, None, lst=Lst.SUCCESSFUL, position=1)
    assert "откатывать нечего" in plain(nothing)


def test_a_bare_status_change_is_no_message() -> None:
    notice = Notice(NoticeKind.CHANGED, release(S.DEPLOYED, completed_at=NOW))
    assert cards.notice_screen(view(), notice) is None


@pytest.mark.parametrize("kind", [k for k in NoticeKind if k is not NoticeKind.CHANGED])
def test_every_notice_renders_within_limits(kind: NoticeKind) -> None:
    r = release(S.DEPLOYED, completed_at=NOW)
    notice = Notice(kind, r, detail="x<y" * 400, log_path="/var/log/x<y>.log", service="s", ref="b")
    screen = cards.notice_screen(view(), notice)
    assert screen is not None
    text = plain(screen)
    assert ("x<y" in text) == (kind is not NoticeKind.READY_FOR_TESTING)


def test_a_deploy_by_hand_reaches_the_team_chat_without_a_release() -> None:
    # relman deploy / relman rollback (issue 15 item 5) notify with no release behind them
    notice = Notice(
        NoticeKind.DEPLOYED,
        None,
        detail="production, by cli:alice",
        log_path="/var/log/deployments/production/hello/v1.0.0-prod.log",
        service="hello",
        ref="v1.0.0",
    )
    screen = cards.notice_screen(view(), notice, Path("/var/log/deployments"))
    assert screen is not None
    assert plain(screen).split("\n") == [
        "✅ Релиз задеплоен на production",
        "",
        "📦 hello",
        "🏷️ Tag: v1.0.0",
        "⚠️ Причина: production, by cli:alice",
        "📄 Лог: production/hello/v1.0.0-prod.log",
    ]
    nameless = Notice(NoticeKind.DEPLOYED, None, detail="?", service="")
    assert cards.notice_screen(view(), nameless) is None


def test_both_languages_have_every_text_and_status() -> None:
    for texts in LANGUAGES.values():
        assert set(texts.statuses) == set(ReleaseStatus)
        for f in dataclasses.fields(texts):
            value = getattr(texts, f.name)
            if isinstance(value, str) and f.name != "language":
                filled = value.format(
                    **{
                        k: "x"
                        for k in (
                            "name",
                            "service",
                            "tag",
                            "status",
                            "initiator",
                            "when",
                            "link",
                            "minutes",
                            "reason",
                            "path",
                            "current",
                            "target",
                            "ref",
                            "detail",
                            "position",
                            "total",
                            "who",
                            "took",
                            "s",
                            "m",
                            "roles",
                        )
                    }
                )
                parse_html(filled)  # valid Telegram HTML: no stray <, > or &
                if f.name.startswith(
                    ("ok_", "no_", "bad_", "busy", "not_", "unavailable", "failed")
                ):
                    assert len(filled) <= 200 and "<" not in filled
        assert set(texts.notice_head) == set(RU.notice_head)


def test_language_choice() -> None:
    assert texts_for("ru") is RU and texts_for("ru-RU") is RU and texts_for("EN-us") is EN
    assert texts_for(None) is RU and texts_for("de") is RU
    assert texts_for("de", "en") is EN and texts_for(None, "en") is EN
    assert texts_for("uk", "xx") is RU


def test_lists_page_and_clamp() -> None:
    rs = [release(id=i, release_tag=f"v1.0.{i}") for i in (3, 2, 1)]
    first = cards.list_screen(view(), Lst.ACTIVE, 0, rs[:2])
    assert "v1.0.3" in plain(first)
    assert first.markup is not None
    labels = [b.text for row in first.markup.inline_keyboard for b in row]
    assert "Старее ▶️" in labels and "◀️ Новее" not in labels
    gone = cards.list_screen(view(), Lst.ACTIVE, 5, rs)  # the list got shorter
    assert "v1.0.1" in plain(gone)
    empty = cards.list_screen(view(EN), Lst.FAILED, 0, [])
    assert plain(empty) == "❌ Failed releases\n\nNo releases here yet."
    assert NOW - timedelta(minutes=15) == rs[0].started_at


def test_a_card_links_a_runners_uploaded_log_and_evidence() -> None:
    url = "https://github.com/org/loom-content/actions/runs/9001/artifacts/5"
    deployed = release(S.DEPLOYED, completed_at=datetime(2024, 3, 14, 10, 45, tzinfo=UTC))
    screen = cards.card_screen(view(), deployed, lst=Lst.SUCCESSFUL, position=0, artifact=url)
    assert "📦 Лог и доказательства деплоя: Открыть" in plain(screen).split("\n")
    assert f'<a href="{url}">Открыть</a>' in screen.text
    bare = cards.card_screen(view(), deployed, lst=Lst.SUCCESSFUL, position=0)
    assert "📦 Лог" not in plain(bare)
