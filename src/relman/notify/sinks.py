"""The log sink and the generic webhook sink (Slack-compatible JSON, seed 004)."""

from __future__ import annotations

import logging

from relman.notify import Notice, NoticeKind

_EMOJI = {
    NoticeKind.READY_FOR_TESTING: "🚀",
    NoticeKind.STAGING_FAILED: "❌",
    NoticeKind.REJECTED: "❌",
    NoticeKind.DEPLOYED: "✅",
    NoticeKind.PRODUCTION_FAILED: "❌",
    NoticeKind.ROLLBACK_DONE: "⏪",
    NoticeKind.ROLLBACK_FAILED: "🔥",
    NoticeKind.INTERRUPTED: "⚠️",
    NoticeKind.DEV_DEPLOYED: "🧪",
    NoticeKind.DEV_DEPLOY_FAILED: "❌",
    NoticeKind.INCIDENT_OPENED: "🚨",
    NoticeKind.INCIDENT_RESOLVED: "🩹",
    NoticeKind.EMERGENCY: "⚠️",
    NoticeKind.CHANGED: "🔄",
}

_WHAT = {
    NoticeKind.READY_FOR_TESTING: "is on stage and ready for testing",
    NoticeKind.STAGING_FAILED: "failed on stage",
    NoticeKind.REJECTED: "was rejected by QA",
    NoticeKind.DEPLOYED: "is deployed to production",
    NoticeKind.PRODUCTION_FAILED: "failed in production",
    NoticeKind.ROLLBACK_DONE: "was rolled back",
    NoticeKind.ROLLBACK_FAILED: "could not be rolled back",
    NoticeKind.INTERRUPTED: "was interrupted",
    NoticeKind.DEV_DEPLOYED: "is deployed to a developer server",
    NoticeKind.DEV_DEPLOY_FAILED: "failed on a developer server",
    NoticeKind.INCIDENT_OPENED: "is in a production incident",
    NoticeKind.INCIDENT_RESOLVED: "is out of its production incident",
    NoticeKind.EMERGENCY: "is an emergency release: stage, then production without manual testing",
    NoticeKind.CHANGED: "moved",
}


def plain_text(notice: Notice) -> str:
    """One line for humans: ``✅ hello v1.1.0 (release 3) is deployed to production``,
    then the detail and the log path when present."""
    release = notice.release
    if release is not None:
        subject = f"{release.service_name} {release.release_tag} (release {release.id})"
        if notice.kind is NoticeKind.ROLLBACK_DONE and release.rollback_to_tag:
            subject += f" → {release.rollback_to_tag}"
    else:
        subject = f"{notice.service} {notice.ref}".strip()
    text = f"{_EMOJI[notice.kind]} {subject} {_WHAT[notice.kind]}"
    if notice.detail:
        text += f": {notice.detail}"
    if notice.log_path:
        text += f" (log: {notice.log_path})"
    return text


class LogSink:
    """Writes each notice as one line to the ``relman.notify`` logger (and so the console)."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("relman.notify")

    async def send(self, notice: Notice) -> None:
        """Log ``notice`` at INFO (failures at WARNING); a bare status change
        (``CHANGED``) is not logged: the notices that matter are."""
        if notice.kind is NoticeKind.CHANGED:
            return
        failed = notice.kind in {
            NoticeKind.STAGING_FAILED,
            NoticeKind.PRODUCTION_FAILED,
            NoticeKind.ROLLBACK_FAILED,
            NoticeKind.INTERRUPTED,
            NoticeKind.DEV_DEPLOY_FAILED,
        }
        self._log.log(logging.WARNING if failed else logging.INFO, "%s", plain_text(notice))


class WebhookSink:
    """POSTs ``{"text": …, "kind": …, "release": {…}}`` to a URL: Slack's incoming-webhook
    shape (``text``), with the structured fields for other receivers.

    Raises ``httpx.HTTPError`` on a connection error or a non-2xx answer (the
    :class:`~relman.notify.Notifier` logs it without the URL, which may hold a token).
    """

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout

    async def send(self, notice: Notice) -> None:
        """Deliver ``notice``; ``timeout`` seconds per attempt, no retry. A bare status
        change (``CHANGED``) is not posted (receivers get the notices that matter)."""
        if notice.kind is NoticeKind.CHANGED:
            return
        release = notice.release
        body = {
            "text": plain_text(notice),
            "kind": notice.kind.value,
            "detail": notice.detail,
            "log_path": notice.log_path,
            "release": None
            if release is None
            else {
                "id": release.id,
                "service": release.service_name,
                "tag": release.release_tag,
                "status": release.status.value,
                "rollback_to_tag": release.rollback_to_tag,
            },
        }
        import httpx  # only a process that posts to a webhook needs the HTTP client

        async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
            response = await client.post(self._url, json=body)
            response.raise_for_status()
