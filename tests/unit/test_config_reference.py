"""docs/configuration.md is generated from the settings' descriptions (issue 15 item 7):
regenerated here, it must equal the file in the repository (so CI catches a setting added or
changed without the reference), and every key must have a description."""

from __future__ import annotations

import json
from pathlib import Path

from relman.config import RelmanConfig
from relman.config_reference import (
    REFERENCE_PATH,
    config_schema,
    reference_markdown,
    undocumented,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_in_the_repository_is_the_generated_one() -> None:
    committed = (ROOT / REFERENCE_PATH).read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/configuration.md is out of date: run "
        "`.venv/bin/relman config reference --output docs/configuration.md`"
    )


def test_every_setting_and_key_is_described() -> None:
    assert undocumented() == []


def test_the_keys_a_newcomer_could_not_find_are_documented() -> None:
    text = reference_markdown()
    for key in ("transport", "root", "env", "log_file", "strategy", "executor"):
        assert f"| `{key}` |" in text, key
    assert "| `github_repository` |" in text
    assert "- `{root}`: the host's `root` folder" in text
    for variable in ("RELMAN_GITHUB_TOKEN", "LOOM_INTERSERVER_SECRET_KEY", "DATABASE_URL"):
        assert f"`{variable}`" in text
    assert "### `[services.NAME.health]`" in text


def test_the_schema_describes_relman_toml() -> None:
    schema = json.loads(config_schema())
    assert schema["title"] == "relman.toml"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == set(RelmanConfig.model_fields)
    service = schema["$defs"]["Service"]
    assert service["additionalProperties"] is False  # an editor flags start_comand too
    assert service["properties"]["strategy"]["enum"] == ["shell", "compose"]
    assert "description" in schema["$defs"]["Host"]["properties"]["root"]
