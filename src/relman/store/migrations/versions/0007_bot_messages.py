"""bot_messages: the Telegram messages that follow a release (issue 16)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from relman.store.tables import BOT_MESSAGE_PURPOSES, UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.BigInteger, nullable=False),
        sa.Column(
            "release_id",
            sa.Integer,
            sa.ForeignKey("releases.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("language", sa.Text, nullable=False, server_default=""),
        sa.Column("shown_event_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("sent_at", UtcDateTime, nullable=False),
        sa.CheckConstraint(
            "purpose IN (" + ", ".join(f"'{p}'" for p in BOT_MESSAGE_PURPOSES) + ")",
            name="purpose_known",
        ),
        sa.UniqueConstraint("chat_id", "message_id"),
    )
    op.create_index("ix_bot_messages_release_id_active", "bot_messages", ["release_id", "active"])


def downgrade() -> None:
    op.drop_index("ix_bot_messages_release_id_active", table_name="bot_messages")
    op.drop_table("bot_messages")
