"""Table definitions (SQLAlchemy Core).

``releases`` has exactly seed 003's columns and types; ``release_events`` is the
append-only audit trail (DESIGN.md §1). Later tables (deployments, jobs, locks) join here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.types import TypeDecorator

from relman.domain.status import ReleaseStatus

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A ``TIMESTAMP`` (without time zone, as in seed 003) that holds UTC.

    Python side: timezone-aware UTC datetimes in and out; naive values are refused so a
    local time can never slip in.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


STATUS_VALUES = tuple(s.value for s in ReleaseStatus)
_STATUS_SQL = ", ".join(f"'{s}'" for s in STATUS_VALUES)

releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_name", Text, nullable=False),
    Column("release_tag", Text, nullable=False),
    Column("rollback_to_tag", Text, server_default=""),
    Column("status", Text, nullable=False),
    Column("initiated_by", Text, nullable=False),
    Column("github_run_id", Text, nullable=False),
    Column("github_action_link", Text, nullable=False),
    Column("github_ref", Text, nullable=False),
    Column("created_at", UtcDateTime, server_default=func.current_timestamp()),
    Column("started_at", UtcDateTime, server_default=func.current_timestamp()),
    Column("completed_at", UtcDateTime, nullable=True),
    CheckConstraint(f"status IN ({_STATUS_SQL})", name="status_known"),
    # Idempotency of POST /release: one release per tag per CI run.
    UniqueConstraint("service_name", "release_tag", "github_run_id"),
    # The list queries: by status (bot groups), by service and status, newest first by id.
    Index(None, "status", "id"),
    Index(None, "service_name", "status", "id"),
    # The dashboard (migration 0009): a service's releases newest first, and the deployed
    # release of the tag production runs (current_deployed) without sorting them all.
    Index(None, "service_name", "id"),
    Index(None, "service_name", "status", "release_tag"),
)

release_events = Table(
    "release_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="RESTRICT"), nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    # 'transition' (the status changed) or 'refused' (an action was denied; the status
    # did not change and to_status is what was asked for).
    Column("kind", Text, nullable=False, server_default="transition"),
    Index(None, "release_id", "id"),
)

#: One row per deploy or rollback of a service to an environment (the history a rollback
#: picks its target from, and where the evidence of each deploy is recorded).
deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="RESTRICT"), nullable=True),
    Column("service", Text, nullable=False),
    Column("environment", Text, nullable=False),
    Column("tag", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("hosts", Text, nullable=False, server_default=""),
    Column("migrated", Boolean, nullable=False, server_default=false()),
    Column("backup_path", Text, nullable=False, server_default=""),
    Column("log_path", Text, nullable=False, server_default=""),
    Column("evidence_path", Text, nullable=False, server_default=""),
    Column("error", Text, nullable=False, server_default=""),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    # The commit deployed (empty when the hosts disagreed or it never got that far).
    Column("git_sha", Text, nullable=False, server_default=""),
    # The image digest (sha256:…) a registry-mode compose deploy ran ("" otherwise).
    Column("image_digest", Text, nullable=False, server_default=""),
    # A runner's uploaded log and evidence (GitHub artifact URL), and the SHA-256 of the
    # evidence's SHA256SUMS ("" when there is none).
    Column("artifact_url", Text, nullable=False, server_default=""),
    Column("evidence_digest", Text, nullable=False, server_default=""),
    CheckConstraint("kind IN ('deploy', 'rollback')", name="kind_known"),
    CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status_known"),
    Index(None, "service", "environment", "id"),
)

#: One deploy per (service, environment) at a time (DESIGN.md §5); mirrored on the hosts.
deploy_locks = Table(
    "deploy_locks",
    metadata,
    Column("service", Text, primary_key=True),
    Column("environment", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("tag", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("acquired_at", UtcDateTime, nullable=False),
    # A runner's lock is leased (it cannot be checked by pid): stale once past this time.
    # NULL for a lock held by a relman process.
    Column("expires_at", UtcDateTime, nullable=True),
)

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "interrupted")

#: Work for relman's worker (the ``local`` executor): one row per stage deploy, production
#: deploy or rollback of a release. Claimed atomically; a running job whose heartbeat goes
#: stale is marked interrupted (DESIGN.md §5: a crash leaves a visible state).
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="RESTRICT"), nullable=False),
    Column("payload", Text, nullable=False, server_default="{}"),
    Column("status", Text, nullable=False),
    Column("owner", Text, nullable=False, server_default=""),
    Column("error", Text, nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("heartbeat_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    # A queued job is not claimed before this (set when it was put back: lock busy).
    Column("not_before", UtcDateTime, nullable=True),
    CheckConstraint("kind IN ('stage_deploy', 'production_deploy', 'rollback')", name="kind_known"),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")", name="status_known"
    ),
    Index(None, "status", "id"),
    Index(None, "release_id", "id"),
)

#: Keys seen once (a Telegram ``update_id``, an HMAC request id): inserting a key twice
#: fails, which makes "process once" hold across concurrent requests and replicas.
seen_keys = Table(
    "seen_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
    Index(None, "seen_at"),
)

BOT_MESSAGE_PURPOSES = ("qa_notice", "progress", "reason_prompt")

#: Messages the Telegram bot sent that follow a release (issue 16): the QA chat's "ready
#: for testing" notice, a card showing a deploy or rollback in progress, a prompt asking
#: for a rejection's reason. Kept in the database so any relman replica (the API, the
#: worker, a CLI command) edits them when the release moves, also after a restart.
bot_messages = Table(
    "bot_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("release_id", Integer, ForeignKey("releases.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", Text, nullable=False),
    # The Telegram user a reason prompt waits for (0: anyone).
    Column("user_id", BigInteger, nullable=False, server_default="0"),
    # The language the message is in ("": the bot's default).
    Column("language", Text, nullable=False, server_default=""),
    # The newest audit event the message shows (a replica renders only newer ones).
    Column("shown_event_id", Integer, nullable=False, server_default="0"),
    # False once the release can no longer move or Telegram refuses edits of it.
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("sent_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "purpose IN (" + ", ".join(f"'{p}'" for p in BOT_MESSAGE_PURPOSES) + ")",
        name="purpose_known",
    ),
    UniqueConstraint("chat_id", "message_id"),
    Index(None, "release_id", "active"),
)

#: The commits a production deploy shipped (issue 14, lead time for changes): read with git
#: from the service's repository, ``PREVIOUS_TAG..TAG``; ``committed_at`` is the committer
#: time (``%ct``).
deploy_commits = Table(
    "deploy_commits",
    metadata,
    Column(
        "deployment_id",
        Integer,
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sha", Text, primary_key=True),
    Column("committed_at", UtcDateTime, nullable=False),
)

#: One row per production deploy whose commits were looked for (found or not), so a
#: repository that cannot be read is not asked again at every query; ``error`` says why.
commit_scans = Table(
    "commit_scans",
    metadata,
    Column(
        "deployment_id",
        Integer,
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("revisions", Text, nullable=False, server_default=""),
    Column("commits", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=False, server_default=""),
    Column("scanned_at", UtcDateTime, nullable=False),
)

INCIDENT_STATUSES = ("open", "resolved")

#: A production incident (issue 14 item 2): opened by a failed production deploy, a
#: rollback request or a failed rollback; at most one open per (service, environment)
#: (the partial unique index), later failures join it.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", Text, nullable=False),
    Column("environment", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    Column("detected_at", UtcDateTime, nullable=False),
    Column("detected_by", Text, nullable=False),
    Column("impact", Text, nullable=False, server_default=""),
    #: the releases involved, comma-separated ids in the order they joined
    Column("release_ids", Text, nullable=False, server_default=""),
    Column("resolution", Text, nullable=False, server_default=""),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("resolved_by", Text, nullable=False, server_default=""),
    Column("postmortem", Text, nullable=False, server_default=""),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in INCIDENT_STATUSES) + ")",
        name="status_known",
    ),
    Index(
        "uq_incidents_open_service_environment",
        "service",
        "environment",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
    Index(None, "service", "detected_at"),
)

#: What happened to an incident, in order: detected, joined (another failure), note,
#: impact, resolved, closed by hand.
incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    Column("release_id", Integer, nullable=True),
    Index(None, "incident_id", "id"),
)

#: Emergency releases (seed 004's forced release, issue 14 item 3): the release skips
#: manual testing; who asked and why (the reason is mandatory). ``releases`` keeps seed
#: 003's columns exactly, so the flag lives here.
emergency_releases = Table(
    "emergency_releases",
    metadata,
    Column(
        "release_id",
        Integer,
        ForeignKey("releases.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("reason", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
