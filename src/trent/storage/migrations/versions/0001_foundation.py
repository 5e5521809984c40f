"""Foundation schema: identities, keys, key material, aliases, tags.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "principals",
        sa.Column("arn", sa.String(512), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("unique_id", sa.String(64), nullable=False, unique=True),
        sa.Column("trust_policy", sa.Text),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("access_key_id", sa.String(32), primary_key=True),
        sa.Column("principal_arn", sa.String(512), nullable=False),
        sa.Column("secret_wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("session_token_hash", sa.LargeBinary),
        sa.Column("session_name", sa.String(64)),
        sa.Column("expiration", sa.Float),
    )
    op.create_table(
        "identity_policies",
        sa.Column("principal_arn", sa.String(512), sa.ForeignKey("principals.arn"), primary_key=True),
        sa.Column("policy_name", sa.String(128), primary_key=True),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("spec", sa.String(32), nullable=False),
        sa.Column("usage", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("creation_date", sa.Float, nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("deletion_date", sa.Float),
        sa.Column("pending_window_days", sa.Integer),
        sa.Column("rotation_enabled", sa.Boolean, nullable=False),
        sa.Column("rotation_period_days", sa.Integer),
        sa.Column("next_rotation_date", sa.Float),
        sa.Column("on_demand_rotations", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_keys_account_region", "keys", ["account_id", "region", "key_id"])
    op.create_table(
        "key_materials",
        sa.Column("key_id", sa.String(64), sa.ForeignKey("keys.key_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("material_id", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("rotation_type", sa.String(16)),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "aliases",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("alias_name", sa.String(256), primary_key=True),
        sa.Column("key_id", sa.String(64), sa.ForeignKey("keys.key_id", ondelete="CASCADE"), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_aliases_key", "aliases", ["key_id"])
    op.create_table(
        "tags",
        sa.Column("key_id", sa.String(64), sa.ForeignKey("keys.key_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag_key", sa.String(128), primary_key=True),
        sa.Column("tag_value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "tags",
        "aliases",
        "key_materials",
        "keys",
        "identity_policies",
        "access_keys",
        "principals",
    ):
        op.drop_table(table)
    op.drop_table("accounts")
    op.drop_table("meta")
