"""Every table pyosi stores, on one MetaData (Alembic's source of truth for migrations).

JSON columns hold documents that are read whole (signals, manifests, labels); everything filtered
or joined on is a real column with an index.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)

#: Durable credentials: the signed manifest of every `pyosi mark`, by watermark content id.
manifests = Table(
    "manifests",
    metadata,
    Column("content_id", String(16), primary_key=True),
    Column("key_id", String(32), nullable=False, index=True),
    Column("created_at", TS, nullable=False),
    Column("title", Text),
    Column("mime", String(64)),
    Column("sha256", String(64), nullable=False),
    Column("signer", Text),
    Column("digital_source_type", Text),
    Column("manifest_json", Text, nullable=False),
)

#: Uploaded files, content-addressed: the bytes live in the blob directory under their hash.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("mime", String(64)),
    Column("created_at", TS, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", TS, nullable=False, index=True),
    Column("blob_sha256", String(64), ForeignKey("blobs.sha256"), nullable=False, index=True),
    Column("filename", Text),
    Column("media_type", String(16)),
    Column("verdict", String(16), nullable=False, index=True),
    Column("status", String(24), nullable=False, index=True),
    Column("label", String(64), index=True),  # the primary label's id, for filtering
    Column("election_related", Boolean, nullable=False, default=False),
    Column("in_election_window", Boolean, nullable=False, default=False, index=True),
    Column("needs_review", Boolean, nullable=False, default=False),
    Column("policy_version", Integer),
    Column("uploader_id", String(128), index=True),
    Column("post_text", Text),
    Column("context", JSON, nullable=False),
    Column("outcome", JSON, nullable=False),  # labels, actions, reasons (policy engine)
    Column("scan", JSON, nullable=False),  # pyosi.scan/1 document
    Column("updated_at", TS, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

#: Web sessions, server-side so a logout or a disabled user ends them at once. The cookie holds
#: a random token; only its SHA-256 is stored. Each session has its own CSRF token.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False, index=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # public prefix shown in the key
    Column("key_hash", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False, index=True),
    Column("actor", String(128), nullable=False),
    Column("action", String(24), nullable=False),
    Column("reason", Text, nullable=False),
    Column("label", JSON),
    Column("policy_version", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
)

#: Append-only and hash-chained: each row's hash covers its content and the previous hash.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False, index=True),
    Column("subject", String(256)),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

#: Every policy ever in force; the newest is the one applied. Empty: the shipped default.
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_at", TS, nullable=False),
    Column("author", String(128), nullable=False),
    Column("comment", Text),
    Column("text", Text, nullable=False),
)

#: The election calendar (Election Act Art. 82-8 windows), seeded from the shipped one.
elections = Table(
    "elections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("date", Date, nullable=False, index=True),
    Column("name_ko", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("verify", Boolean, nullable=False, default=False),
    Column("note", Text, nullable=False, default=""),
    Column("utc_offset_minutes", Integer, nullable=False, default=540),
)

#: Registered partners' watermark keys, encrypted at rest (never returned by the API).
partner_keys = Table(
    "partner_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("secret_encrypted", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("secret_encrypted", LargeBinary, nullable=False),
    Column("events", JSON, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", TS, nullable=False),
)

#: One row per (event, subscriber): the delivery log, and the queue the deliverer works from.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), nullable=False, index=True),
    Column("event_id", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS, index=True),
    Column("lease_until", TS),
    Column("last_error", Text),
    Column("last_status_code", Integer),
    Column("delivered_at", TS),
    Column("created_at", TS, nullable=False),
)

#: Background work (large uploads): the API answers 202 with the job's URL. A worker leases a
#: job; if it dies, the lease runs out and another worker takes the job again.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("payload", JSON, nullable=False),
    Column("result", JSON),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", TS),
    Column("created_by", String(128), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)
