from __future__ import annotations

import pytest

from relman.domain.errors import InvalidInput
from relman.domain.version import is_release_tag, parse_release_tag


@pytest.mark.parametrize("tag", ["v1.2.3", "v0.0.1", "v1.2.3-rc.1", "v1.2.3-beta.1+build.5"])
def test_valid_tags(tag: str) -> None:
    assert is_release_tag(tag)
    assert str(parse_release_tag(tag)) == tag[1:]


@pytest.mark.parametrize(
    "tag", ["1.2.3", "V1.2.3", "v1.2", "v1.2.3.4", "v01.2.3", "release-1", "v1.2.3-", "", "v"]
)
def test_invalid_tags_name_the_field(tag: str) -> None:
    assert not is_release_tag(tag)
    with pytest.raises(InvalidInput) as info:
        parse_release_tag(tag, field="rollback_to_tag")
    assert info.value.field == "rollback_to_tag"
    assert str(info.value).startswith("rollback_to_tag: ")
