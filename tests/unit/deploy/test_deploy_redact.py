"""Secrets never reach a deploy log: the redactor and the env-file rule."""

from __future__ import annotations

from relman.deploy.redact import MASK, Redactor, env_file_secrets, parse_env_file, url_secrets


def test_redactor_masks_every_occurrence_longest_first() -> None:
    redact = Redactor(["s3cr3t", "s3cr3t-and-more", ""])
    assert redact("a s3cr3t-and-more b s3cr3t c") == f"a {MASK} b {MASK} c"
    assert redact("nothing here") == "nothing here"
    redact.add("tok.en+1")  # regex characters are literal
    assert redact("x tok.en+1 tokXen+1") == f"x {MASK} tokXen+1"
    assert len(redact) == 3


def test_short_values_are_not_masked() -> None:
    redact = Redactor(["1", "ab"])
    assert redact("1 ab 1") == "1 ab 1"


def test_env_file_parsing() -> None:
    text = (
        "# comment\n"
        "export API_TOKEN='tok-123456'\n"
        'DB_PASSWORD="pw word"\n'
        "HELLO_PORT=8004\n"
        "HELLO_HOST=127.0.0.1\n"
        "DATABASE_URL=postgresql://app:pw@db/app\n"
        "EMPTY=\n"
        "garbage line\n"
    )
    assert parse_env_file(text) == {
        "API_TOKEN": "tok-123456",
        "DB_PASSWORD": "pw word",
        "HELLO_PORT": "8004",
        "HELLO_HOST": "127.0.0.1",
        "DATABASE_URL": "postgresql://app:pw@db/app",
        "EMPTY": "",
    }
    # secret-looking names always; other values only when long (a DSN, an opaque token)
    assert sorted(env_file_secrets(text)) == sorted(
        ["tok-123456", "pw word", "postgresql://app:pw@db/app"]
    )


def test_url_credentials_are_secrets_but_plain_users_are_not() -> None:
    assert url_secrets("https://deploy:pw-123@github.com/acme/x.git") == ["pw-123"]
    token = "ghp_0123456789abcdefghij"
    assert url_secrets(f"https://{token}@github.com/acme/x.git") == [token]
    assert url_secrets("ssh://git@github.com/acme/x.git") == []
    assert url_secrets("git@github.com:acme/x.git") == []
    assert url_secrets("http://{address}:8004/health") == []
    assert url_secrets("http://[broken/health") == []
