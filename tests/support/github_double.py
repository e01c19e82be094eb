"""Local doubles of the two GitHub services relman talks to (DESIGN.md §6).

Both are real HTTP servers on 127.0.0.1 (an ephemeral port, stdlib ``http.server`` in a
daemon thread), so relman's own httpx code runs unchanged against them.

* :class:`GitHubApiDouble` — ``POST /repos/{owner}/{repo}/actions/workflows/{id}/dispatches``
  as strict as GitHub ("Create a workflow dispatch event",
  docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event): the bearer
  token is required (401 ``Requires authentication`` / ``Bad credentials``), an unknown
  repository or workflow is 404 ``Not Found``, the body must be JSON (400 ``Problems
  parsing JSON``) with a string ``ref`` and ``inputs`` an object of at most 10 string
  values (422 ``Invalid request. …``), a ref the repository lacks is 422 ``No ref found
  for: …``, inputs the workflow does not declare are 422 ``Unexpected inputs provided:
  [...]``; success is 204 with no body. Every error body is GitHub's
  ``{"message", "documentation_url", "status"}``. Every request is recorded.
* :class:`OidcIssuerDouble` — the JWKS endpoint of GitHub Actions' OIDC issuer with a
  generated RSA key, and :meth:`~OidcIssuerDouble.mint` to make tokens with GitHub's claims
  (docs.github.com/actions/reference/security/oidc), plus the bad tokens relman must refuse.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DISPATCH_DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
MAX_INPUTS = 10
#: The token :class:`GitHubApiDouble` accepts unless given another.
DOUBLE_TOKEN = "ghs_double_token_0123456789"


def unused_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens (a port just bound and freed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class RecordedRequest:
    """One request a double received and how it answered."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _HttpDouble:
    """A real HTTP/1.1 server on 127.0.0.1 in a daemon thread; subclasses answer."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                double._serve(self)

            def do_POST(self) -> None:
                double._serve(self)

            def do_PUT(self) -> None:
                double._serve(self)

            def do_PATCH(self) -> None:
                double._serve(self)

            def do_DELETE(self) -> None:
                double._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() fast (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> _HttpDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        raise NotImplementedError

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        answer = self.answer(handler.command, handler.path, headers, body)
        with self._lock:
            self.requests.append(
                RecordedRequest(handler.command, handler.path, headers, body, answer.status)
            )
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        handler.send_response(answer.status)
        if answer.body is not None:
            handler.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        # A client that gave up meanwhile (its timeout, a test of :attr:`hold`) is gone.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.end_headers()
            handler.wfile.write(payload)


def _github_error(status: int, message: str) -> _Answer:
    return _Answer(
        status, {"message": message, "documentation_url": DISPATCH_DOCS, "status": str(status)}
    )


@dataclass
class _Workflow:
    inputs: frozenset[str] | None  # None: any inputs accepted
    refs: frozenset[str] | None  # None: any ref exists


class GitHubApiDouble(_HttpDouble):
    """GitHub's REST API, the workflow dispatch endpoint only (see the module doc).

    Declare what exists with :meth:`declare_workflow`. Set :attr:`refuse_inputs` to make
    every dispatch with inputs answer 422 ``Unexpected inputs provided``; set
    :attr:`hold` to make requests hang until it is set (for client timeouts).
    """

    def __init__(self, token: str = DOUBLE_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.refuse_inputs = False
        self.hold: threading.Event | None = None
        self._workflows: dict[tuple[str, str], _Workflow] = {}

    @property
    def api_url(self) -> str:
        return self.url

    def declare_workflow(
        self,
        repository: str,
        workflow: str,
        *,
        inputs: Iterable[str] | None = None,
        refs: Iterable[str] | None = None,
    ) -> None:
        """Make ``repository`` (owner/name) have ``workflow`` (file name) declaring
        ``inputs`` (None: any) and the git ``refs`` (None: any)."""
        self._workflows[(repository.lower(), workflow)] = _Workflow(
            None if inputs is None else frozenset(inputs),
            None if refs is None else frozenset(refs),
        )

    @property
    def dispatches(self) -> list[RecordedRequest]:
        """The dispatch requests GitHub accepted (answered 204)."""
        return [r for r in self.requests if r.method == "POST" and r.status == 204]

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        if self.hold is not None:
            self.hold.wait(timeout=30)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if not token:
            return _github_error(401, "Requires authentication")
        if scheme.lower() not in ("bearer", "token") or not hmac.compare_digest(
            token.encode(), self.token.encode()
        ):
            return _github_error(401, "Bad credentials")
        parts = path.split("?", 1)[0].strip("/").split("/")
        if not (
            method == "POST"
            and len(parts) == 7
            and parts[0] == "repos"
            and parts[3:5] == ["actions", "workflows"]
            and parts[6] == "dispatches"
        ):
            return _github_error(404, "Not Found")
        workflow = self._workflows.get((f"{parts[1]}/{parts[2]}".lower(), parts[5]))
        if workflow is None:
            return _github_error(404, "Not Found")
        try:
            data = json.loads(body)
        except ValueError:
            return _github_error(400, "Problems parsing JSON")
        if not isinstance(data, dict):
            return _github_error(400, "Problems parsing JSON")
        problem = _validate_dispatch(data)
        if problem:
            return _github_error(422, f"Invalid request.\n\n{problem}")
        ref = data["ref"]
        short_ref = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        if workflow.refs is not None and short_ref not in workflow.refs:
            return _github_error(422, f"No ref found for: {ref}")
        given = data.get("inputs") or {}
        unexpected = sorted(
            given
            if self.refuse_inputs
            else (k for k in given if workflow.inputs is not None and k not in workflow.inputs)
        )
        if unexpected:
            return _github_error(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
        return _Answer(204)


def _validate_dispatch(data: dict[str, Any]) -> str:
    """GitHub's JSON-schema complaint about a dispatch body, or ""."""
    if "ref" not in data:
        return '"ref" wasn\'t supplied.'
    if not isinstance(data["ref"], str):
        return f"For 'properties/ref', {json.dumps(data['ref'])} is not a string."
    inputs = data.get("inputs", {})
    if inputs is None:
        return ""
    if not isinstance(inputs, dict):
        return f"For 'properties/inputs', {json.dumps(inputs)} is not an object."
    if len(inputs) > MAX_INPUTS:
        return f"For 'properties/inputs', the object has more than {MAX_INPUTS} properties."
    for key, value in inputs.items():
        if not isinstance(value, str):
            return f"For 'properties/{key}', {json.dumps(value)} is not a string."
    return ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OidcIssuerDouble(_HttpDouble):
    """GitHub Actions' OIDC issuer: ``GET /.well-known/jwks`` and
    ``/.well-known/openid-configuration``, and tokens minted with its current key.

    ``issuer`` is what tokens carry in ``iss`` (GitHub's by default, independent of where
    this server listens); ``audience`` is the default ``aud``. :meth:`rotate` publishes a
    new key; :attr:`fail_jwks` makes the JWKS endpoint answer 503; :attr:`jwks_body`, when
    set, is what it answers (200) instead of the key set.
    """

    def __init__(self, audience: str, *, issuer: str = GITHUB_ISSUER) -> None:
        super().__init__()
        self.audience = audience
        self.issuer = issuer
        self.fail_jwks = False
        self.jwks_body: Any = None
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = [("key-1", _new_key())]

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks"

    @property
    def kid(self) -> str:
        return self._keys[-1][0]

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for r in self.requests if r.path == "/.well-known/jwks")

    def rotate(self, *, keep_old: bool = True) -> str:
        """Publish a new signing key (the old one stays published with ``keep_old``);
        returns its ``kid``. New tokens are signed with it."""
        kid = f"key-{len(self._keys) + 1}"
        self._keys = [*(self._keys if keep_old else []), (kid, _new_key())]
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, private in self._keys:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        if method == "GET" and path == "/.well-known/jwks":
            if self.fail_jwks:
                return _Answer(503, {"message": "unavailable"})
            return _Answer(200, self.jwks() if self.jwks_body is None else self.jwks_body)
        if method == "GET" and path == "/.well-known/openid-configuration":
            return _Answer(
                200,
                {
                    "issuer": self.issuer,
                    "jwks_uri": self.jwks_url,
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
                },
            )
        return _Answer(404, {"message": "Not Found"})

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """GitHub's claims for a tag push of ``org/loom-content`` by ``octocat``, with
        ``overrides`` applied (a value of None drops the claim)."""
        now = int(time.time())
        repository = overrides.get("repository") or "org/loom-content"
        ref = overrides.get("ref") or "refs/tags/v1.2.3"
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": f"repo:{repository}:ref:{ref}",
            "aud": self.audience,
            "ref": ref,
            "sha": "0" * 40,
            "repository": repository,
            "repository_owner": repository.split("/")[0],
            "repository_owner_id": "1001",
            "repository_id": "424242",
            "repository_visibility": "private",
            "run_id": "9001",
            "run_number": "7",
            "run_attempt": "1",
            "actor": "octocat",
            "actor_id": "583231",
            "workflow": "Release to stage",
            "event_name": "push",
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "ref_protected": "false",
            "job_workflow_ref": f"{repository}/.github/workflows/on-create-version-tag.yaml@{ref}",
            "iss": self.issuer,
            "nbf": now - 300,
            "iat": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, *, kid: str | None = None, **overrides: Any) -> str:
        """An RS256 token signed with the current key (``kid`` overrides the header)."""
        current_kid, key = self._keys[-1]
        return jwt.encode(
            self.claims(**overrides),
            key,
            algorithm="RS256",
            headers={"kid": kid or current_kid, "typ": "JWT"},
        )

    def mint_expired(self, **overrides: Any) -> str:
        now = int(time.time())
        return self.mint(**{"iat": now - 3600, "nbf": now - 3900, "exp": now - 3300, **overrides})

    def mint_wrong_audience(self, **overrides: Any) -> str:
        return self.mint(**{"aud": "https://github.com/someone-else", **overrides})

    def mint_wrong_issuer(self, **overrides: Any) -> str:
        return self.mint(**{"iss": "https://evil.example/issuer", **overrides})

    def mint_forged(self, **overrides: Any) -> str:
        """Signed by another RSA key under the published ``kid``: a bad signature."""
        return jwt.encode(
            self.claims(**overrides),
            _new_key(),
            algorithm="RS256",
            headers={"kid": self.kid, "typ": "JWT"},
        )

    def mint_unknown_kid(self, **overrides: Any) -> str:
        return jwt.encode(
            self.claims(**overrides), _new_key(), algorithm="RS256", headers={"kid": "nope"}
        )

    def mint_hs256_with_public_key(self, **overrides: Any) -> str:
        """The algorithm-confusion attack: HS256 keyed with the issuer's public key PEM."""
        pem = (
            self._keys[-1][1]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return self._raw_token({"alg": "HS256", "typ": "JWT", "kid": self.kid}, overrides, pem)

    def mint_alg_none(self, **overrides: Any) -> str:
        """An unsigned token (``alg: none``, empty signature)."""
        return self._raw_token({"alg": "none", "typ": "JWT", "kid": self.kid}, overrides, None)

    def _raw_token(
        self, header: dict[str, Any], overrides: dict[str, Any], key: bytes | None
    ) -> str:
        signing_input = (
            f"{_b64(json.dumps(header).encode())}."
            f"{_b64(json.dumps(self.claims(**overrides)).encode())}"
        )
        signature = (
            b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        )
        return f"{signing_input}.{_b64(signature)}"
