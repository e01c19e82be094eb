"""Every ```toml block of README.md loads through relman's real loader (issue 15 item 7:
the production example named a host it never defined)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relman.config import parse_config

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"^```toml\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_has_toml_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_each_toml_example_is_a_valid_relman_toml(block: str) -> None:
    parse_config(block, "README.md")
