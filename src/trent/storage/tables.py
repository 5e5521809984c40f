"""The schema, as SQLAlchemy Core tables. Alembic migrations under `migrations/` create it."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    literal_column,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("created", Float, nullable=False),
)

principals = Table(
    "principals",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("unique_id", String(64), nullable=False, unique=True),
    Column("trust_policy", Text),
    Column("created", Float, nullable=False),
    Index("ix_principals_account_type", "account_id", "type", "name"),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("principal_arn", String(512), nullable=False),
    Column("secret_wrapped", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
    Column("session_token_hash", LargeBinary),
    Column("session_name", String(64)),
    Column("expiration", Float),
    # Active or Inactive (IAM's UpdateAccessKey): an Inactive key authenticates nothing.
    Column("status", String(16), nullable=False, server_default="Active"),
    # When, where and for which service it last authenticated a request (written in batches, to the minute).
    Column("last_used", Float),
    Column("last_used_region", String(32)),
    Column("last_used_service", String(16)),
    Index("ix_access_keys_expiration", "expiration"),
    Index("ix_access_keys_principal", "principal_arn"),
)

principal_tags = Table(
    "principal_tags",
    metadata,
    Column("principal_arn", String(512), ForeignKey("principals.arn"), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)

identity_policies = Table(
    "identity_policies",
    metadata,
    Column("principal_arn", String(512), ForeignKey("principals.arn"), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

keys = Table(
    "keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("spec", String(32), nullable=False),
    Column("usage", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("creation_date", Float, nullable=False),
    Column("origin", String(32), nullable=False),
    Column("policy", Text, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("deletion_date", Float),
    Column("pending_window_days", Integer),
    Column("rotation_enabled", Boolean, nullable=False),
    Column("rotation_period_days", Integer),
    Column("next_rotation_date", Float),
    Column("on_demand_rotations", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("grant_count", Integer, nullable=False, server_default="0"),
    # Multi-Region keys: the primary's Region, in every related key's row (NULL: a single-Region key). Their
    # `key_id` is the key's ref, `<mrk-id>/<region>` (trent.domain.ids.key_ref); that of other keys their ID.
    Column("primary_region", String(32)),
    Index("ix_keys_account_region", "account_id", "region", "key_id"),
    Index("ix_keys_grant_count", "grant_count"),
    Index("ix_keys_deletion", "state", "deletion_date"),
    Index("ix_keys_rotation", "rotation_enabled", "next_rotation_date"),
)

key_materials = Table(
    "key_materials",
    metadata,
    Column("key_id", String(64), ForeignKey("keys.key_id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("material_id", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("rotation_type", String(16)),
    Column("wrapped", LargeBinary),  # NULL while imported material is absent (deleted, expired, pending)
    Column("import_state", String(16)),  # NULL for generated material; IMPORTED or PENDING_IMPORT
    Column("expiration_model", String(32)),
    Column("valid_to", Float),
    Column("description", String(256)),
    Index("ix_key_materials_valid_to", "valid_to"),
)

#: The wrapping key pairs of GetParametersForImport, private halves wrapped under the root key, until they expire.
import_parameters = Table(
    "import_parameters",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("key_id", String(64), ForeignKey("keys.key_id", ondelete="CASCADE"), nullable=False),
    Column("wrapping_algorithm", String(32), nullable=False),
    Column("wrapping_key_spec", String(16), nullable=False),
    Column("private_key_wrapped", LargeBinary, nullable=False),
    Column("expires", Float, nullable=False),
    Index("ix_import_parameters_expires", "expires"),
    Index("ix_import_parameters_key", "key_id", "expires"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("alias_name", String(256), primary_key=True),
    Column("key_id", String(64), ForeignKey("keys.key_id", ondelete="CASCADE"), nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_aliases_key", "key_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("key_id", String(64), ForeignKey("keys.key_id", ondelete="CASCADE"), primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
)

grants = Table(
    "grants",
    metadata,
    # `seq` orders grants by creation and makes pagination an index seek.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("grant_id", String(64), nullable=False, unique=True),
    Column("key_id", String(64), ForeignKey("keys.key_id", ondelete="CASCADE"), nullable=False),
    Column("key_account", String(12), nullable=False),
    Column("key_region", String(32), nullable=False),
    Column("name", String(256)),
    Column("grantee_principal", String(256)),
    Column("grantee_service_principal", String(128)),
    Column("retiring_principal", String(256)),
    Column("retiring_service_principal", String(128)),
    Column("issuing_account", String(12), nullable=False),
    Column("operations", Integer, nullable=False),  # a bit set over the model's GrantOperation enum
    Column("constraints", Text),  # JSON, as the API shapes it
    Column("creation_date", Float, nullable=False),
    # Retired and revoked grants stay as tombstones for the propagation delay, then maintenance purges them.
    Column("deleted_at", Float),
    # The grant whose CreateGrant permission created this one (NULL: a policy did), for the console's lineage.
    Column("parent_grant_id", String(64)),
    Index("ix_grants_key", "key_id", "seq"),
    Index("ix_grants_parent", "parent_grant_id"),
    Index("ix_grants_account", "key_account", "key_region", "seq"),
    Index("ix_grants_key_grantee", "key_id", "grantee_principal"),
    Index("ix_grants_retiring", "retiring_principal", "key_region", "seq"),
    Index("ix_grants_deleted", "deleted_at"),
    Index("ix_grants_key_name", "key_id", "name"),
)

#: The change feed: one row per change of a grant, key, alias, account, principal, access key or identity policy,
#: written in the transaction of the change. Every process follows it to keep its caches exact (api/changes.py).
changes = Table(
    "changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("entity", String(2048), nullable=False),
    Column("key_id", String(64)),
    Column("changed_at", Float, nullable=False),
    Index("ix_changes_changed_at", "changed_at"),
    sqlite_autoincrement=True,
)

#: Signed-in web console sessions: the token's hash (never the token), who, and the form token of the session.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("principal_arn", String(512), nullable=False),
    Column("access_key_id", String(32)),  # the key signed in with: revoking it ends the session
    Column("csrf_token", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    # The principal's unique ID: a session of a deleted principal never passes to a new one of the same name.
    Column("principal_id", String(64), nullable=False, server_default=""),
    Index("ix_console_sessions_last_seen", "last_seen"),
    Index("ix_console_sessions_key", "access_key_id"),
    Index("ix_console_sessions_principal", "principal_arn"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_time", Float, nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("account_id", String(12)),
    Column("principal_arn", String(512)),
    Column("key_arn", String(256)),
    Column("error_code", String(64)),
    Column("record", Text, nullable=False),  # the CloudTrail-shaped event, JSON
    Index("ix_audit_time", "event_time"),
    Index("ix_audit_account", "account_id", "seq"),
)

#: Events per bucket of the audit trail's key and principal indexes. Those indexes lead with the event's bucket
#: (`audit_bucket`), so the events a flush writes, whoever made them and whatever key they name, go into the few
#: pages of the newest bucket. Indexed by (principal_arn, seq), 1,250 events of 20,000 callers dirtied ~1,250
#: pages of a 1 M-event index: 45 µs of CPU a row, 18 from 20 callers, 12 either way now. A page by key or
#: principal lists its buckets in one statement (`storage/audit.py`): 61 index probes at 1 M events.
AUDIT_BUCKET_EVENTS = 16_384
#: An event's bucket. A literal divisor, never a bound parameter: SQLite uses an index on an expression only for
#: the very same expression.
audit_bucket = audit_events.c.seq // literal_column(str(AUDIT_BUCKET_EVENTS), Integer)
Index("ix_audit_key", audit_bucket, audit_events.c.key_arn, audit_events.c.seq)
Index("ix_audit_principal", audit_bucket, audit_events.c.principal_arn, audit_events.c.seq)

#: The versions of the root key (docs/security.md, "Rotating the root key"): version 0 is the root key itself; each
#: later one is a data key wrapped under the root key. New wraps use the newest version not retired; a retired
#: version's data key is deleted (NULL), so nothing wrapped under it can be unwrapped any more.
root_key_versions = Table(
    "root_key_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("wrapped_key", LargeBinary),
    Column("created", Float, nullable=False),
    Column("retired", Float),
    #: The same data key wrapped under the root key being replaced, while nodes may still run with it.
    Column("wrapped_key_previous", LargeBinary),
)

#: Secrets of the store as a whole, wrapped like any other (under the newest root-key version): the keys derived from
#: the first root key (`derived:<purpose>`), kept once that root key is replaced so that tokens and markers outlive it.
store_secrets = Table(
    "store_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
)

#: The re-wrap of every stored secret under a new root-key version: where it has got to (table, last primary key),
#: so that it resumes after a crash, and how far it is, for status and /metrics.
rewrap_progress = Table(
    "rewrap_progress",
    metadata,
    Column("target_version", Integer, primary_key=True, autoincrement=False),
    Column("position", Text, nullable=False),  # JSON: [table index, last primary key values or null]
    Column("rewrapped", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("started", Float, nullable=False),
    Column("finished", Float),
)
