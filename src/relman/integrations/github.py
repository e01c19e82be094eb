"""A small client of GitHub's REST API: what relman needs of it, nothing more.

Today that is ``workflow_dispatch`` ("Create a workflow dispatch event",
docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event):
``POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches`` with a JSON body
``{"ref": <branch or tag>, "inputs": {<name>: <value>, …}}`` (at most 10 inputs, each
declared by the workflow's ``on.workflow_dispatch.inputs``). GitHub answers
``204 No Content`` on success, and an error with a JSON body
``{"message": …, "documentation_url": …}`` otherwise — e.g. 422 ``Unexpected inputs
provided: ["x"]`` or ``No ref found for: v9.9.9``, 404 ``Not Found`` for an unknown
repository or workflow (or a token that may not see it), 401 ``Bad credentials``. The token
needs the ``actions: write`` permission (fine-grained token or GitHub App) or the ``repo``
scope (classic token).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from types import TracebackType
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from relman.config import redact_url
from relman.domain.errors import ConfigError, InvalidInput, RelmanError

log = logging.getLogger("relman.integrations.github")

#: The REST API version relman is written against (the ``X-GitHub-Api-Version`` header).
API_VERSION = "2022-11-28"
#: Seconds per request (connect, read, write, pool) when relman makes its own client.
DEFAULT_TIMEOUT = 10.0

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_MAX_MESSAGE = 500


class WorkflowDispatchRefused(RelmanError):
    """GitHub answered a workflow dispatch with an error status (4xx/5xx).

    ``status`` is GitHub's HTTP status, ``github_message`` the ``message`` of its JSON
    error body (or the HTTP reason when the body has none), cut to 500 characters.
    """

    code = "dispatch_refused"

    def __init__(
        self, status: int, github_message: str, *, repository: str = "", workflow: str = ""
    ) -> None:
        where = f" of {workflow} in {repository}" if repository and workflow else ""
        super().__init__(
            f"GitHub refused the workflow dispatch{where}: HTTP {status}: {github_message}",
            status=status,
            github_message=github_message,
        )
        self.status = status
        self.github_message = github_message


class GitHubUnavailable(RelmanError):
    """GitHub's API could not be reached (connection refused, DNS, TLS, timeout)."""

    code = "github_unavailable"


class GitHubClient:
    """GitHub's REST API at ``api_url`` (``https://api.github.com``, or a GitHub
    Enterprise ``https://HOST/api/v3``), authenticated with ``token``.

    ``http`` lets the caller share (and own) an :class:`httpx.AsyncClient`; without it the
    client makes its own with a 10-second timeout, closed by :meth:`aclose` or
    ``async with``. The token is sent only in the ``Authorization`` header and never
    appears in a log line or an error.
    """

    def __init__(
        self,
        api_url: str,
        token: SecretStr | None,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_http:
            await self._http.aclose()

    async def dispatch_workflow(
        self, repository: str, workflow: str, ref: str, inputs: Mapping[str, str]
    ) -> None:
        """Start ``workflow`` (its file name, e.g. ``deploy.yaml``, or its numeric id) of
        ``repository`` (``owner/name``) on ``ref`` (a branch or tag name) with ``inputs``.

        Returns once GitHub accepted the event (any 2xx; GitHub sends 204). GitHub does not
        say which run it started.

        Raises :class:`InvalidInput` for a ``repository`` that is not ``owner/name`` or an
        empty ``workflow``/``ref``; :class:`ConfigError` when no token is configured
        (``RELMAN_GITHUB_TOKEN``); :class:`WorkflowDispatchRefused` carrying GitHub's
        status and ``message`` for a 4xx/5xx answer; :class:`GitHubUnavailable` when GitHub
        cannot be reached or does not answer in time.
        """
        if not _REPOSITORY.match(repository):
            raise InvalidInput("repository", f"{repository!r} is not owner/name")
        if not workflow:
            raise InvalidInput("workflow", "empty: give the workflow's file name or id")
        if not ref:
            raise InvalidInput("ref", "empty: give a branch or tag name")
        if self._token is None or not self._token.get_secret_value():
            raise ConfigError("no GitHub token: set RELMAN_GITHUB_TOKEN to dispatch workflows")
        owner, name = repository.split("/", 1)
        url = (
            f"{self.api_url}/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
            f"/actions/workflows/{quote(workflow, safe='')}/dispatches"
        )
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {self._token.get_secret_value()}",
        }
        try:
            response = await self._http.post(
                url, headers=headers, json={"ref": ref, "inputs": dict(inputs)}
            )
        except httpx.HTTPError as exc:
            log.warning(
                "workflow dispatch of %s in %s: GitHub unreachable (%s)",
                workflow,
                repository,
                type(exc).__name__,
            )
            raise GitHubUnavailable(
                f"GitHub's API at {redact_url(self.api_url)} is unreachable "
                f"({type(exc).__name__}); the workflow {workflow} was not dispatched"
            ) from None
        if response.is_success:
            log.info("dispatched %s in %s on %s", workflow, repository, ref)
            return
        message = _github_message(response)
        log.warning(
            "workflow dispatch of %s in %s refused: HTTP %s: %s",
            workflow,
            repository,
            response.status_code,
            message,
        )
        raise WorkflowDispatchRefused(
            response.status_code, message, repository=repository, workflow=workflow
        )


def _github_message(response: httpx.Response) -> str:
    """The ``message`` of GitHub's JSON error body, else the HTTP reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = response.reason_phrase or "no message"
    return message[:_MAX_MESSAGE]
