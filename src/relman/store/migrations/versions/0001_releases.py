"""releases (seed 003) and the append-only release_events audit trail

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from relman.store.tables import STATUS_VALUES, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY = "release_events is append-only"


def upgrade() -> None:
    # Written out (not taken from tables.py) so this revision stays what it was.
    statuses = ", ".join(f"'{s}'" for s in STATUS_VALUES)
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_name", sa.Text, nullable=False),
        sa.Column("release_tag", sa.Text, nullable=False),
        sa.Column("rollback_to_tag", sa.Text, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("initiated_by", sa.Text, nullable=False),
        sa.Column("github_run_id", sa.Text, nullable=False),
        sa.Column("github_action_link", sa.Text, nullable=False),
        sa.Column("github_ref", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, server_default=sa.func.current_timestamp()),
        sa.Column("started_at", UtcDateTime, server_default=sa.func.current_timestamp()),
        sa.Column("completed_at", UtcDateTime, nullable=True),
        sa.CheckConstraint(f"status IN ({statuses})", name="status_known"),
        sa.UniqueConstraint("service_name", "release_tag", "github_run_id"),
    )
    op.create_index("ix_releases_status_id", "releases", ["status", "id"])
    op.create_index(
        "ix_releases_service_name_status_id", "releases", ["service_name", "status", "id"]
    )
    op.create_table(
        "release_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "release_id",
            sa.Integer,
            sa.ForeignKey("releases.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("from_status", sa.Text, nullable=True),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_release_events_release_id_id", "release_events", ["release_id", "id"])
    bind = op.get_bind()
    # The audit trail is only ever inserted into; the database enforces it too.
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION release_events_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER release_events_append_only BEFORE UPDATE OR DELETE "
            "ON release_events FOR EACH ROW EXECUTE FUNCTION release_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER release_events_no_{verb.lower()} BEFORE {verb} "
                f"ON release_events BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER release_events_append_only ON release_events")
        op.execute("DROP FUNCTION release_events_append_only()")
    op.drop_table("release_events")
    op.drop_table("releases")
