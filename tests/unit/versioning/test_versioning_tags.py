"""Docker image tags of a release and the release-tag check, as data."""

from __future__ import annotations

import pytest

from relman.domain.errors import InvalidInput
from relman.versioning.tags import check_tag, image_tags

SHA = "A1B2C3D4E5F60718293a4b5c6d7e8f9012345678"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.2.3", ["1.2.3", "1.2", "1", "latest", "sha-a1b2c3d"]),
        ("v1.2.3", ["1.2.3", "1.2", "1", "latest", "sha-a1b2c3d"]),
        ("0.4.0", ["0.4.0", "0.4", "0", "latest", "sha-a1b2c3d"]),
        ("1.2.4-rc.1", ["1.2.4-rc.1", "sha-a1b2c3d"]),
        ("v2.0.0-beta.2", ["2.0.0-beta.2", "sha-a1b2c3d"]),
    ],
)
def test_image_tags(version: str, expected: list[str]) -> None:
    assert image_tags(version, SHA) == expected


def test_short_sha_is_enough() -> None:
    assert image_tags("1.0.0", "abcdef1")[-1] == "sha-abcdef1"


@pytest.mark.parametrize(
    ("version", "sha", "field"),
    [
        ("1.2", SHA, "version"),
        ("1.2.3+build.1", SHA, "version"),
        ("1.2.3", "abc", "sha"),
        ("1.2.3", "not-a-sha-at-all", "sha"),
    ],
)
def test_image_tags_refusals(version: str, sha: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        image_tags(version, sha)
    assert info.value.field == field


@pytest.mark.parametrize("tag", ["v1.2.3", "v0.0.1", "v1.2.3-rc.1", "v10.20.30-beta.2"])
def test_check_tag_accepts_release_tags(tag: str) -> None:
    assert str(check_tag(tag)) == tag[1:]


@pytest.mark.parametrize("tag", ["1.2.3", "V1.2.3", "v1.2", "release-1", "v1.2.3.4", "latest"])
def test_check_tag_refuses_others(tag: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_tag(tag)
    assert info.value.field == "tag"
