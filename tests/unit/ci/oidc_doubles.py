"""Local HTTP doubles for ``relman ci`` with GitHub OIDC (imported by the tests; not a test
module itself).

* :class:`RunnerTokenEndpoint` — the GitHub Actions runner's OIDC token endpoint
  (``ACTIONS_ID_TOKEN_REQUEST_URL``): ``GET /idtoken?api-version=2.0&audience=<aud>`` with
  ``Authorization: Bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`` answers ``{"count": 1,
  "value": "<jwt>"}``, the token minted by an :class:`OidcIssuerDouble` for the audience
  asked for (as GitHub does). A wrong or missing request token is 401, a missing
  ``audience`` or ``api-version`` 400. :attr:`status` forces another answer.
* :class:`RecordingApi` — a stand-in for the Release API that answers every request with
  one release and records the ``Authorization`` header it got.

Both are real HTTP servers on 127.0.0.1 (stdlib ``http.server`` in a daemon thread).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.support.github_double import OidcIssuerDouble

REQUEST_TOKEN = "runner-request-token-Xy7"  # what ACTIONS_ID_TOKEN_REQUEST_TOKEN holds

RELEASE = {
    "id": 7,
    "service_name": "loom-content",
    "release_tag": "v1.2.3",
    "status": "initiated",
    "allowed_next": ["building", "staging_failed"],
    "github_action_link": "",
}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str
    status: int


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 whose :meth:`answer` subclasses write."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                auth = self.headers.get("Authorization", "")
                status, body = outer.answer(self.command, parts.path, query, auth)
                with outer._lock:
                    outer.seen.append(Seen(self.command, parts.path, query, auth, status))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], authorization: str
    ) -> tuple[int, Any]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class RunnerTokenEndpoint(_Server):
    """The runner's OIDC token endpoint; tokens come from ``issuer.mint(aud=<audience
    asked for>, **claims)``."""

    def __init__(
        self,
        issuer: OidcIssuerDouble,
        *,
        request_token: str = REQUEST_TOKEN,
        **claims: Any,
    ) -> None:
        super().__init__()
        self.issuer = issuer
        self.request_token = request_token
        self.claims = claims
        self.status: int | None = None  # set to force an error answer
        self.minted: list[str] = []

    @property
    def request_url(self) -> str:
        """What the runner puts in ACTIONS_ID_TOKEN_REQUEST_URL (already with a query)."""
        return f"{self.url}/idtoken?api-version=2.0"

    @property
    def audiences(self) -> list[str]:
        """The audience of each token request, as received (decoded)."""
        return [a for s in self.seen for a in s.query.get("audience", [])]

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], authorization: str
    ) -> tuple[int, Any]:
        if self.status is not None:
            return self.status, {"message": "forced failure"}
        if method != "GET" or path != "/idtoken":
            return 404, {"message": "Not Found"}
        if authorization != f"Bearer {self.request_token}":
            return 401, {"message": "Bad credentials"}
        if query.get("api-version") != ["2.0"]:
            return 400, {"message": "api-version is required"}
        audience = query.get("audience", [""])
        if len(audience) != 1 or not audience[0]:
            return 400, {"message": "audience is required"}
        token = self.issuer.mint(aud=audience[0], **self.claims)
        self.minted.append(token)
        return 200, {"count": 1, "value": token}


class RecordingApi(_Server):
    """Answers every request with :data:`RELEASE` (201 for a POST)."""

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], authorization: str
    ) -> tuple[int, Any]:
        return (201 if method == "POST" else 200), RELEASE
