"""runner deploys: leased deploy locks, and where a deploy's artifact and evidence digest are

A GitHub Actions runner holds a deploy lock through the Release API; it cannot be checked
by pid, so its lock carries a lease (``expires_at``) that the runner renews while it
deploys (issue 12). ``artifact_url`` is the runner's uploaded log and evidence,
``evidence_digest`` the SHA-256 of the evidence's ``SHA256SUMS``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from relman.store.tables import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deploy_locks", sa.Column("expires_at", UtcDateTime, nullable=True))
    op.add_column(
        "deployments", sa.Column("artifact_url", sa.Text, nullable=False, server_default="")
    )
    op.add_column(
        "deployments", sa.Column("evidence_digest", sa.Text, nullable=False, server_default="")
    )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("evidence_digest")
        batch.drop_column("artifact_url")
    with op.batch_alter_table("deploy_locks") as batch:
        batch.drop_column("expires_at")
