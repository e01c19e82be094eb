"""pipeline: jobs, seen keys, refused audit events, deployed git sha

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from relman.store.tables import JOB_STATUSES, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a default works on both backends and keeps the append-only triggers.
    op.add_column(
        "release_events",
        sa.Column("kind", sa.Text, nullable=False, server_default="transition"),
    )
    op.add_column("deployments", sa.Column("git_sha", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column(
            "release_id",
            sa.Integer,
            sa.ForeignKey("releases.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=True),
        sa.Column("heartbeat_at", UtcDateTime, nullable=True),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.CheckConstraint(
            "kind IN ('stage_deploy', 'production_deploy', 'rollback')", name="kind_known"
        ),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")",
            name="status_known",
        ),
    )
    op.create_index("ix_jobs_status_id", "jobs", ["status", "id"])
    op.create_index("ix_jobs_release_id_id", "jobs", ["release_id", "id"])
    op.create_table(
        "seen_keys",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("seen_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_seen_keys_seen_at", "seen_keys", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_seen_keys_seen_at", "seen_keys")
    op.drop_table("seen_keys")
    op.drop_index("ix_jobs_release_id_id", "jobs")
    op.drop_index("ix_jobs_status_id", "jobs")
    op.drop_table("jobs")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("git_sha")
    with op.batch_alter_table("release_events") as batch:
        batch.drop_column("kind")
