"""deployments history and deploy locks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from relman.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "release_id",
            sa.Integer,
            sa.ForeignKey("releases.id", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("hosts", sa.Text, nullable=False, server_default=""),
        sa.Column("migrated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("backup_path", sa.Text, nullable=False, server_default=""),
        sa.Column("log_path", sa.Text, nullable=False, server_default=""),
        sa.Column("evidence_path", sa.Text, nullable=False, server_default=""),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.CheckConstraint("kind IN ('deploy', 'rollback')", name="kind_known"),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status_known"),
    )
    op.create_index(
        "ix_deployments_service_environment_id", "deployments", ["service", "environment", "id"]
    )
    op.create_table(
        "deploy_locks",
        sa.Column("service", sa.Text, primary_key=True),
        sa.Column("environment", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("acquired_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deploy_locks")
    op.drop_index("ix_deployments_service_environment_id", "deployments")
    op.drop_table("deployments")
