"""dashboard indexes: a service's releases newest first, a service's deployed release of a tag

The dashboard's releases page with 100 000 releases (issue 13 item 5), measured with
``benchmarks/dashboard_releases.py --explain``: filtered by service it sorted all of the
service's releases (``ix_releases_service_name_status_id`` cannot give them in id order
without a status), and marking the release in production (``current_deployed`` of the tag
production runs) sorted all of the service's ``deployed`` releases, once per service shown.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_releases_service_name_id", "releases", ["service_name", "id"])
    op.create_index(
        "ix_releases_service_name_status_release_tag",
        "releases",
        ["service_name", "status", "release_tag"],
    )


def downgrade() -> None:
    op.drop_index("ix_releases_service_name_status_release_tag", table_name="releases")
    op.drop_index("ix_releases_service_name_id", table_name="releases")
