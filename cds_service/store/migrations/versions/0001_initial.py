"""Audit (hook_call, card), feedback and token_use tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cds_service.store.schema import Id, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_call",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("called_at", UtcDateTime(), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook", sa.String(64)),
        sa.Column("hook_instance", sa.String(64)),
        sa.Column("patient_pseudonym", sa.String(64)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("finding_codes", sa.JSON, nullable=False),
        sa.Column("knowledge_version", sa.String(64)),
        sa.Column("data_completeness", sa.JSON, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hook_call"),
    )
    op.create_index("ix_hook_call_called_at", "hook_call", ["called_at"])
    op.create_table(
        "card",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("hook_call_id", Id, nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("finding_code", sa.String(128), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_card"),
        sa.ForeignKeyConstraint(
            ["hook_call_id"], ["hook_call.id"], name="fk_card_hook_call_id_hook_call", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_card_hook_call_id", "card", ["hook_call_id"])
    op.create_index("ix_card_card_uuid_service_id", "card", ["card_uuid", "service_id"])
    op.create_table(
        "feedback",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("card_id", Id, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", UtcDateTime(), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("override_reason_system", sa.String(512)),
        sa.Column("override_reason_code", sa.String(128)),
        sa.Column("override_comment", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.ForeignKeyConstraint(
            ["card_id"], ["card.id"], name="fk_feedback_card_id_card", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "service_id",
            "card_uuid",
            "outcome",
            "outcome_timestamp",
            name="uq_feedback_service_id_card_uuid_outcome_outcome_timestamp",
        ),
    )
    op.create_index("ix_feedback_card_id", "feedback", ["card_id"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_table(
        "token_use",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_token_use"),
    )
    op.create_index("ix_token_use_expires_at", "token_use", ["expires_at"])


def downgrade() -> None:
    op.drop_table("token_use")
    op.drop_table("feedback")
    op.drop_table("card")
    op.drop_table("hook_call")
