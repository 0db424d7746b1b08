"""notes: the notes table, on a branch of its own

Revision ID: 5e0c1a2b3d4f
Depends on: cd33ef39f04f (Keyfob's head when this was written: the users table exists)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyfob.extend import UTCDateTime

revision = "5e0c1a2b3d4f"
down_revision = None
branch_labels = ("notes",)
depends_on = "cd33ef39f04f"


def upgrade() -> None:
    op.create_table(
        "notes_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notes_note_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes_note")),
    )
    op.create_index(op.f("ix_notes_note_user_id"), "notes_note", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notes_note_user_id"), table_name="notes_note")
    op.drop_table("notes_note")
