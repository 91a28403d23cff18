"""Analytics: RFM scores, KPIs, cohorts, breakdowns, marketing spend and KPI targets."""

from __future__ import annotations

from sqlalchemy import Table

from patron.analytics.models import RfmScore
from patron.db import table_of


def rfm_table() -> Table:
    """The per-customer RFM table (Core), for other domains' set-based SQL (segments).

    Columns: customer_id (PK), r_score, f_score, m_score (1..5), rfm_group (an RfmGroup
    value), recency_days, frequency, monetary (base-currency minor units), computed_at.
    Only customers with at least one counted order have a row; "prospects" (no orders) are
    the customers without one.
    """
    return table_of(RfmScore)
