"""analytics and incidents: deploy commits, commit scans, incidents, emergency releases

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from relman.store.tables import INCIDENT_STATUSES, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _deployment_fk() -> sa.ForeignKey:
    return sa.ForeignKey("deployments.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "deploy_commits",
        sa.Column("deployment_id", sa.Integer, _deployment_fk(), primary_key=True),
        sa.Column("sha", sa.Text, primary_key=True),
        sa.Column("committed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "commit_scans",
        sa.Column("deployment_id", sa.Integer, _deployment_fk(), primary_key=True),
        sa.Column("revisions", sa.Text, nullable=False, server_default=""),
        sa.Column("commits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("scanned_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("detected_at", UtcDateTime, nullable=False),
        sa.Column("detected_by", sa.Text, nullable=False),
        sa.Column("impact", sa.Text, nullable=False, server_default=""),
        sa.Column("release_ids", sa.Text, nullable=False, server_default=""),
        sa.Column("resolution", sa.Text, nullable=False, server_default=""),
        sa.Column("resolved_at", UtcDateTime, nullable=True),
        sa.Column("resolved_by", sa.Text, nullable=False, server_default=""),
        sa.Column("postmortem", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in INCIDENT_STATUSES) + ")",
            name="status_known",
        ),
    )
    # One open incident per (service, environment): a partial unique index, which both
    # SQLite and PostgreSQL enforce, so two replicas cannot open two.
    op.create_index(
        "uq_incidents_open_service_environment",
        "incidents",
        ["service", "environment"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_incidents_service_detected_at", "incidents", ["service", "detected_at"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer,
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("release_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_incident_events_incident_id_id", "incident_events", ["incident_id", "id"])
    op.create_table(
        "emergency_releases",
        sa.Column(
            "release_id",
            sa.Integer,
            sa.ForeignKey("releases.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("emergency_releases")
    op.drop_index("ix_incident_events_incident_id_id", "incident_events")
    op.drop_table("incident_events")
    op.drop_index("ix_incidents_service_detected_at", "incidents")
    op.drop_index("uq_incidents_open_service_environment", "incidents")
    op.drop_table("incidents")
    op.drop_table("commit_scans")
    op.drop_table("deploy_commits")
