"""Cards remember who got them (issuer, tenant) and which suggestions they offered.

Feedback is accepted only from the issuer and tenant the card was returned to, and an accepted suggestion must
be one the card offered. Cards audited before this revision have NULL in all three columns: feedback on them
is accepted only from a caller without a token (DN_CDS_AUTH=off), and their suggestions are not checked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("card") as batch:
        batch.add_column(sa.Column("issuer", sa.Text))
        batch.add_column(sa.Column("tenant", sa.Text))
        batch.add_column(sa.Column("suggestions", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    with op.batch_alter_table("card") as batch:
        batch.drop_column("suggestions")
        batch.drop_column("tenant")
        batch.drop_column("issuer")
