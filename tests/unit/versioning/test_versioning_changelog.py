"""Changelog sections and their place in CHANGELOG.md, as data."""

from __future__ import annotations

import datetime as dt

from relman.versioning.changelog import insert_section, render_section
from relman.versioning.commits import Commit, parse_commit

DAY = dt.date(2024, 3, 15)


def _commit(n: int, message: str) -> Commit:
    return parse_commit(f"{n:07x}" + "f" * 33, message)


def test_section_groups_in_order_newest_first_within_a_group() -> None:
    commits = [
        _commit(1, "feat(api)!: drop v1 endpoints"),
        _commit(2, "fix(bot): answer callbacks\n\nBREAKING CHANGE: callback data format changed"),
        _commit(3, "docs: describe rollback"),
        _commit(4, "test(store): cover locks"),
        _commit(5, "chore: bump deps"),
        _commit(6, "feat: release cards"),
        _commit(7, "Merge remote stuff by hand"),
        _commit(8, "refactor(deploy): split steps"),
        _commit(9, "fix: typo"),
    ]
    assert render_section("v2.0.0", DAY, commits) == (
        "## v2.0.0 - 2024-03-15\n"
        "\n"
        "### ⚠️ BREAKING CHANGES\n"
        "\n"
        "- api: drop v1 endpoints (0000001)\n"
        "- bot: callback data format changed (0000002)\n"
        "\n"
        "### 🚀 Features\n"
        "\n"
        "- api: drop v1 endpoints (0000001)\n"
        "- release cards (0000006)\n"
        "\n"
        "### 🐛 Bug Fixes\n"
        "\n"
        "- bot: answer callbacks (0000002)\n"
        "- typo (0000009)\n"
        "\n"
        "### 📄 Documentation\n"
        "\n"
        "- describe rollback (0000003)\n"
        "\n"
        "### 🧪 Testing\n"
        "\n"
        "- store: cover locks (0000004)\n"
        "\n"
        "### ⚙️ Miscellaneous\n"
        "\n"
        "- bump deps (0000005)\n"
        "- Merge remote stuff by hand (0000007)\n"
        "- deploy: split steps (0000008)\n"
    )


def test_section_leaves_out_empty_groups() -> None:
    section = render_section("v1.0.1", DAY, [_commit(1, "fix: one")])
    assert section == "## v1.0.1 - 2024-03-15\n\n### 🐛 Bug Fixes\n\n- one (0000001)\n"


def test_section_without_commits() -> None:
    assert render_section("v1.0.1", DAY, []) == "## v1.0.1 - 2024-03-15\n\nNo changes.\n"


SECTION = "## v1.1.0 - 2024-03-15\n\n### 🚀 Features\n\n- new (0000001)\n"


def test_insert_creates_the_file_text() -> None:
    assert insert_section(None, SECTION) == "# Changelog\n\n" + SECTION
    assert insert_section("\n", SECTION) == "# Changelog\n\n" + SECTION


def test_insert_puts_the_newest_section_on_top_under_the_heading() -> None:
    existing = "# Changelog\n\nAll notable changes.\n\n## v1.0.0 - 2024-01-01\n\n- first\n"
    assert insert_section(existing, SECTION) == (
        "# Changelog\n"
        "\n"
        "All notable changes.\n"
        "\n"
        "## v1.1.0 - 2024-03-15\n"
        "\n"
        "### 🚀 Features\n"
        "\n"
        "- new (0000001)\n"
        "\n"
        "## v1.0.0 - 2024-01-01\n"
        "\n"
        "- first\n"
    )


def test_insert_adds_a_heading_when_the_file_has_none() -> None:
    existing = "## v1.0.0 - 2024-01-01\n\n- first\n"
    assert insert_section(existing, SECTION) == (
        "# Changelog\n\n" + SECTION + "\n## v1.0.0 - 2024-01-01\n\n- first\n"
    )
    assert insert_section("Some notes\n", SECTION) == (
        "# Changelog\n\n" + SECTION + "\nSome notes\n"
    )


def test_insert_after_a_heading_without_sections() -> None:
    assert insert_section("# Changelog\n", SECTION) == "# Changelog\n\n" + SECTION
    assert insert_section("# Changelog\n\nIntro", SECTION) == ("# Changelog\n\nIntro\n\n" + SECTION)
