"""initial schema

Revision ID: 20261122_0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import patron.db

revision: str = "20261122_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_order_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.Column("known", sa.SmallInteger(), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("gap_ms", sa.BigInteger(), nullable=False),
        sa.Column("gap_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_order_days")),
    )
    with op.batch_alter_table("analytics_order_days", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_order_days_day", ["day", "prev_day"], unique=False)

    op.create_table(
        "analytics_order_days_upkeep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("refreshed_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("built_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_order_days_upkeep")),
    )
    op.create_table(
        "analytics_session_marks",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("marked_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_analytics_session_marks")),
    )
    with op.batch_alter_table("analytics_session_marks", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_session_marks_at", ["marked_at"], unique=False)

    op.create_table(
        "analytics_session_upkeep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watermark", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("longest_seconds", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sessions", sa.BigInteger(), nullable=False),
        sa.Column("customers", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_session_upkeep")),
    )
    op.create_table(
        "analytics_sessions",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("started_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column(
            "converted_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.PrimaryKeyConstraint("customer_id", "started_at", name=op.f("pk_analytics_sessions")),
    )
    with op.batch_alter_table("analytics_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_sessions_converted_by", ["converted_by"], unique=False)
        batch_op.create_index(
            "ix_analytics_sessions_started",
            ["started_at", "customer_id", "converted_by"],
            unique=False,
        )

    op.create_table(
        "artifacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column(
            "card",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_artifacts_kind_version")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifacts_kind"), ["kind"], unique=False)

    op.create_table(
        "job_schedules",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_enqueued_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_schedules")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_jobs_dedupe_key")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_claim", ["status", "run_at"], unique=False)

    op.create_table(
        "kpi_targets",
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("metric", name=op.f("pk_kpi_targets")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("failed_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_failures_email_at", ["email_hash", "failed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_failures_failed_at"), ["failed_at"], unique=False
        )

    op.create_table(
        "marketing_spend",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("base_amount", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_spend")),
    )
    with op.batch_alter_table("marketing_spend", schema=None) as batch_op:
        batch_op.create_index("uq_marketing_spend_channel_month", ["channel", "month"], unique=True)

    op.create_table(
        "order_day_marks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_day_marks")),
    )
    with op.batch_alter_table("order_day_marks", schema=None) as batch_op:
        batch_op.create_index("ix_order_day_marks_day", ["day"], unique=False)

    op.create_table(
        "recommendation_category_rules",
        sa.Column("category_path", sa.String(length=500), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("category_path", name=op.f("pk_recommendation_category_rules")),
    )
    op.create_table(
        "report_snapshots",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=True),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("computed_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("compute_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_report_snapshots")),
    )
    with op.batch_alter_table("report_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_snapshots_label", ["kind", "label", "computed_at"], unique=False
        )

    op.create_table(
        "rfm_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("computed_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("as_of", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "edges",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rfm_runs")),
    )
    op.create_table(
        "rfm_scores",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("r_score", sa.SmallInteger(), nullable=False),
        sa.Column("f_score", sa.SmallInteger(), nullable=False),
        sa.Column("m_score", sa.SmallInteger(), nullable=False),
        sa.Column("rfm_group", sa.String(length=24), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_rfm_scores")),
    )
    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.create_index("ix_rfm_scores_group", ["rfm_group"], unique=False)

    op.create_table(
        "segment_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("entered_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("exited_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_history")),
    )
    with op.batch_alter_table("segment_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_segment_history_customer", ["customer_id", "entered_at"], unique=False
        )
        batch_op.create_index(
            "ix_segment_history_segment_customer",
            ["segment_id", "customer_id", "exited_at"],
            unique=False,
        )

    op.create_table(
        "segment_members",
        sa.Column(
            "segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("entered_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "customer_id", name=op.f("pk_segment_members")),
    )
    with op.batch_alter_table("segment_members", schema=None) as batch_op:
        batch_op.create_index("ix_segment_members_customer", ["customer_id"], unique=False)

    op.create_table(
        "segment_settings",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_segment_settings")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("builtin", sa.String(length=32), nullable=True),
        sa.Column("time_based", sa.Boolean(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("full_refreshed_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("builtin", name=op.f("uq_segments_builtin")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("key", name=op.f("uq_sources_key")),
    )
    op.create_table(
        "store_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_settings")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_api_keys_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=32), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("city", sa.String(length=200), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("total_spent", sa.BigInteger(), nullable=False),
        sa.Column("first_order_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_order_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "merged_into_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["customers.id"], name=op.f("fk_customers_merged_into_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_customers_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_customers_email", ["email", "id"], unique=False)
        batch_op.create_index(
            "ix_customers_first_name",
            ["first_name"],
            unique=False,
            postgresql_ops={"first_name": "text_pattern_ops"},
        )
        batch_op.create_index("ix_customers_first_order", ["first_order_at"], unique=False)
        batch_op.create_index("ix_customers_last_name", ["last_name", "id"], unique=False)
        batch_op.create_index(
            "ix_customers_last_name_prefix",
            ["last_name"],
            unique=False,
            postgresql_ops={"last_name": "text_pattern_ops"},
        )
        batch_op.create_index("ix_customers_last_order", ["last_order_at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customers_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_index("ix_customers_orders", ["orders_count", "id"], unique=False)
        batch_op.create_index("ix_customers_phone", ["phone"], unique=False)
        batch_op.create_index("ix_customers_spent", ["total_spent", "id"], unique=False)
        batch_op.create_index(
            "ix_customers_tags",
            ["tags"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
            sqlite_where=sa.text("0"),
        )
        batch_op.create_index("ix_customers_updated", ["updated_at"], unique=False)

    op.create_table(
        "event_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("received_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_event_inbox_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_inbox")),
    )
    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_event_inbox_status", ["status", "id"], unique=False)

    op.create_table(
        "integration_connections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_integration_connections_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_connections")),
        sa.UniqueConstraint("source_id", name="uq_integration_connections_source"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("category_path", sa.String(length=500), nullable=True),
        sa.Column("brand", sa.String(length=200), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("image_url", sa.String(length=1000), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_products_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_category", ["category_path"], unique=False)
        batch_op.create_index("ix_products_created", ["created_at", "id"], unique=False)

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("delivery_id", sa.String(length=128), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_webhook_deliveries_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("source_id", "delivery_id", name="uq_webhook_deliveries_delivery"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_source_received", ["source_id", "received_at"], unique=False
        )

    op.create_table(
        "customer_identities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_identities_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_identities")),
        sa.UniqueConstraint(
            "kind", "source", "value", name=op.f("uq_customer_identities_kind_source_value")
        ),
    )
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_identities_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_customer_identities_value",
            ["value"],
            unique=False,
            postgresql_ops={"value": "text_pattern_ops"},
        )

    op.create_table(
        "customer_merges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "winner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("loser_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "moved",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["loser_id"], ["customers.id"], name=op.f("fk_customer_merges_loser_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["winner_id"], ["customers.id"], name=op.f("fk_customer_merges_winner_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_merges_loser_id"), ["loser_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customer_merges_winner_id"), ["winner_id"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("anonymous_id", sa.String(length=128), nullable=True),
        sa.Column("user_id", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("timestamp", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("original_timestamp", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stored_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "traits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_events_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_events_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("source_id", "message_id", name=op.f("uq_events_source_id_message_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_customer_time", ["customer_id", "timestamp"], unique=False)
        batch_op.create_index("ix_events_name_time", ["name", "timestamp"], unique=False)
        batch_op.create_index("ix_events_stored", ["stored_at"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount_total", sa.BigInteger(), nullable=False),
        sa.Column("shipping_total", sa.BigInteger(), nullable=False),
        sa.Column("tax_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("refunded_total", sa.BigInteger(), nullable=False),
        sa.Column("base_total", sa.BigInteger(), nullable=False),
        sa.Column("base_refunded_total", sa.BigInteger(), nullable=False),
        sa.Column(
            "coupon_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("placed_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_placed_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=40), nullable=True),
        sa.Column("cancelled_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_orders_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_customer_placed", ["customer_id", "placed_at"], unique=False
        )
        batch_op.create_index("ix_orders_placed", ["placed_at", "id"], unique=False)
        batch_op.create_index(
            "ix_orders_placed_kpi",
            [
                "placed_at",
                "customer_id",
                "prev_placed_at",
                "base_total",
                "base_refunded_total",
                "status",
            ],
            unique=False,
        )
        batch_op.create_index("ix_orders_updated", ["updated_at"], unique=False)

    op.create_table(
        "predictive_scores",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=16), nullable=False),
        sa.Column("churn_model", sa.String(length=16), nullable=False),
        sa.Column("scored_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_orders_30d", sa.Float(), nullable=False),
        sa.Column("expected_orders_90d", sa.Float(), nullable=False),
        sa.Column("expected_orders_365d", sa.Float(), nullable=False),
        sa.Column("orders_365d_low", sa.Float(), nullable=False),
        sa.Column("orders_365d_high", sa.Float(), nullable=False),
        sa.Column("horizon_months", sa.Integer(), nullable=False),
        sa.Column("predicted_spend", sa.BigInteger(), nullable=False),
        sa.Column("predicted_clv", sa.BigInteger(), nullable=False),
        sa.Column("clv_low", sa.BigInteger(), nullable=False),
        sa.Column("clv_high", sa.BigInteger(), nullable=False),
        sa.Column("churn_probability", sa.Float(), nullable=False),
        sa.Column("churn_risk", sa.String(length=8), nullable=False),
        sa.Column("p_alive", sa.Float(), nullable=False),
        sa.Column("next_order_on", sa.Date(), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("uncertainty", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_predictive_scores_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_predictive_scores")),
    )
    with op.batch_alter_table("predictive_scores", schema=None) as batch_op:
        batch_op.create_index("ix_predictive_scores_churn_risk", ["churn_risk"], unique=False)
        batch_op.create_index("ix_predictive_scores_predicted_clv", ["predicted_clv"], unique=False)

    op.create_table(
        "product_external_ids",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_external_ids_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_product_external_ids_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_external_ids")),
        sa.UniqueConstraint(
            "source_id", "external_id", name=op.f("uq_product_external_ids_source_id_external_id")
        ),
    )
    with op.batch_alter_table("product_external_ids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_external_ids_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "product_variants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sku", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_variants_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_product_variants_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_variants")),
        sa.UniqueConstraint("sku", name=op.f("uq_product_variants_sku")),
        sa.UniqueConstraint(
            "source_id", "external_id", name=op.f("uq_product_variants_source_id_external_id")
        ),
    )
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_variants_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("occurred_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("ref_type", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_timeline_entries_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
    )
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timeline_customer_time", ["customer_id", "occurred_at", "id"], unique=False
        )

    op.create_table(
        "carts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("checkout_url", sa.String(length=1000), nullable=True),
        sa.Column(
            "converted_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checkout_started_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("converted_at", patron.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["converted_order_id"], ["orders.id"], name=op.f("fk_carts_converted_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_carts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_carts_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carts")),
        sa.UniqueConstraint(
            "source_id", "external_id", name=op.f("uq_carts_source_id_external_id")
        ),
    )
    with op.batch_alter_table("carts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_carts_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_carts_status_updated", ["status", "updated_at"], unique=False)

    op.create_table(
        "order_external_ids",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_external_ids_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_order_external_ids_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_external_ids")),
        sa.UniqueConstraint(
            "source_id", "external_id", name=op.f("uq_order_external_ids_source_id_external_id")
        ),
    )
    with op.batch_alter_table("order_external_ids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_external_ids_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "order_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "variant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("sku", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["product_variants.id"],
            name=op.f("fk_order_lines_variant_id_product_variants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_lines_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_lines_product_id"), ["product_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("refunded_at", patron.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint(
            "order_id", "external_id", name=op.f("uq_refunds_order_id_external_id")
        ),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_order_id"), ["order_id"], unique=False)

    op.create_table(
        "cart_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cart_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_key", sa.String(length=128), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("sku", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cart_id"], ["carts.id"], name=op.f("fk_cart_lines_cart_id_carts")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_cart_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_lines")),
        sa.UniqueConstraint("cart_id", "item_key", name=op.f("uq_cart_lines_cart_id_item_key")),
    )


def downgrade() -> None:
    op.drop_table("cart_lines")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_order_id"))

    op.drop_table("refunds")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_lines_product_id"))
        batch_op.drop_index(batch_op.f("ix_order_lines_order_id"))

    op.drop_table("order_lines")
    with op.batch_alter_table("order_external_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_external_ids_order_id"))

    op.drop_table("order_external_ids")
    with op.batch_alter_table("carts", schema=None) as batch_op:
        batch_op.drop_index("ix_carts_status_updated")
        batch_op.drop_index(batch_op.f("ix_carts_customer_id"))

    op.drop_table("carts")
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_customer_time")

    op.drop_table("timeline_entries")
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_variants_product_id"))

    op.drop_table("product_variants")
    with op.batch_alter_table("product_external_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_external_ids_product_id"))

    op.drop_table("product_external_ids")
    with op.batch_alter_table("predictive_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_predictive_scores_predicted_clv")
        batch_op.drop_index("ix_predictive_scores_churn_risk")

    op.drop_table("predictive_scores")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_updated")
        batch_op.drop_index("ix_orders_placed_kpi")
        batch_op.drop_index("ix_orders_placed")
        batch_op.drop_index("ix_orders_customer_placed")

    op.drop_table("orders")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_stored")
        batch_op.drop_index("ix_events_name_time")
        batch_op.drop_index("ix_events_customer_time")

    op.drop_table("events")
    with op.batch_alter_table("customer_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merges_winner_id"))
        batch_op.drop_index(batch_op.f("ix_customer_merges_loser_id"))

    op.drop_table("customer_merges")
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_customer_identities_value", postgresql_ops={"value": "text_pattern_ops"}
        )
        batch_op.drop_index(batch_op.f("ix_customer_identities_customer_id"))

    op.drop_table("customer_identities")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_source_received")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))

    op.drop_table("web_sessions")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_created")
        batch_op.drop_index("ix_products_category")

    op.drop_table("products")
    op.drop_table("integration_connections")
    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_event_inbox_status")

    op.drop_table("event_inbox")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_updated")
        batch_op.drop_index(
            "ix_customers_tags",
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
            sqlite_where=sa.text("0"),
        )
        batch_op.drop_index("ix_customers_spent")
        batch_op.drop_index("ix_customers_phone")
        batch_op.drop_index("ix_customers_orders")
        batch_op.drop_index(batch_op.f("ix_customers_merged_into_id"))
        batch_op.drop_index("ix_customers_last_order")
        batch_op.drop_index(
            "ix_customers_last_name_prefix", postgresql_ops={"last_name": "text_pattern_ops"}
        )
        batch_op.drop_index("ix_customers_last_name")
        batch_op.drop_index("ix_customers_first_order")
        batch_op.drop_index(
            "ix_customers_first_name", postgresql_ops={"first_name": "text_pattern_ops"}
        )
        batch_op.drop_index("ix_customers_email")
        batch_op.drop_index("ix_customers_created")

    op.drop_table("customers")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_table("store_settings")
    op.drop_table("sources")
    op.drop_table("segments")
    op.drop_table("segment_settings")
    with op.batch_alter_table("segment_members", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_members_customer")

    op.drop_table("segment_members")
    with op.batch_alter_table("segment_history", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_history_segment_customer")
        batch_op.drop_index("ix_segment_history_customer")

    op.drop_table("segment_history")
    with op.batch_alter_table("rfm_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_rfm_scores_group")

    op.drop_table("rfm_scores")
    op.drop_table("rfm_runs")
    with op.batch_alter_table("report_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_report_snapshots_label")

    op.drop_table("report_snapshots")
    op.drop_table("recommendation_category_rules")
    with op.batch_alter_table("order_day_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_order_day_marks_day")

    op.drop_table("order_day_marks")
    with op.batch_alter_table("marketing_spend", schema=None) as batch_op:
        batch_op.drop_index("uq_marketing_spend_channel_month")

    op.drop_table("marketing_spend")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_failed_at"))
        batch_op.drop_index("ix_login_failures_email_at")

    op.drop_table("login_failures")
    op.drop_table("kpi_targets")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claim")

    op.drop_table("jobs")
    op.drop_table("job_schedules")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifacts_kind"))

    op.drop_table("artifacts")
    with op.batch_alter_table("analytics_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_sessions_started")
        batch_op.drop_index("ix_analytics_sessions_converted_by")

    op.drop_table("analytics_sessions")
    op.drop_table("analytics_session_upkeep")
    with op.batch_alter_table("analytics_session_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_session_marks_at")

    op.drop_table("analytics_session_marks")
    op.drop_table("analytics_order_days_upkeep")
    with op.batch_alter_table("analytics_order_days", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_order_days_day")

    op.drop_table("analytics_order_days")
