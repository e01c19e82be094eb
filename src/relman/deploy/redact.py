"""Keep secrets out of deploy logs, evidence and messages (DESIGN.md §5; seed 001 FlowSec).

Every line a deploy writes — remote output, relman's own messages, step logs, the summary,
error messages — goes through one :class:`Redactor` that replaces known secret values with
``***``. Known values are the hosts' passwords, the credentials written into the service's
URLs (:func:`url_secrets`) and the values read from the service's env files (see
:func:`env_file_secrets` for which of those count).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"

#: Variable names whose values are secret whatever their length.
_SECRET_NAME = re.compile(
    r"PASS|SECRET|TOKEN|KEY|DSN|AUTH|CREDENTIAL|PRIVATE|COOKIE|SESSION|SALT|CERT", re.I
)
#: Other env-file values this long or longer are treated as secret too (URLs with
#: credentials, opaque tokens under innocent names). Shorter ones ("8004", "true",
#: "127.0.0.1") are configuration that logs need to stay readable.
LONG_VALUE = 16
#: Secret-named values shorter than this are not masked ("1" would mask every digit).
MIN_SECRET = 3


class Redactor:
    """Replaces every known secret value in a text with :data:`MASK`.

    Longer secrets are replaced first, so a secret containing another is masked whole.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Also mask these values (empty and very short values are ignored)."""
        new = {s for s in secrets if s and len(s) >= MIN_SECRET} - self._secrets
        if not new:
            return
        self._secrets |= new
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __len__(self) -> int:
        return len(self._secrets)


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines of a dotenv file (``export`` prefix, quotes and ``#`` comments
    handled) as a dict."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key:
            values[key] = value
    return values


def env_file_secrets(text: str) -> list[str]:
    """The values of a dotenv file that must be masked.

    A value is secret when its name looks secret (``PASSWORD``, ``TOKEN``, ``KEY``,
    ``SECRET``, ``DSN``, …) or when it is at least :data:`LONG_VALUE` characters long.
    """
    return [
        value
        for key, value in parse_env_file(text).items()
        if value and (_SECRET_NAME.search(key) or len(value) >= LONG_VALUE)
    ]


def url_secrets(url: str) -> list[str]:
    """The credentials in a URL's user part that must be masked: the password of
    ``https://user:TOKEN@host/…``, or a token given as the whole user part
    (``https://TOKEN@host/…``, at least :data:`LONG_VALUE` characters; ``git@host`` is not
    a secret). ``[]`` for a URL without credentials or an scp-like ``git@host:path``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if parts.password:
        return [parts.password]
    if parts.username and len(parts.username) >= LONG_VALUE:
        return [parts.username]
    return []
