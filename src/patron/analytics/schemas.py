"""Public shapes of analytics: RFM groups and scores, KPI reports, cohorts, spend, targets."""

from __future__ import annotations

from enum import StrEnum


class RfmGroup(StrEnum):
    """Shopify's customer-statistics RFM groups (the mapping is in docs/analytics.md)."""

    CHAMPIONS = "champions"
    LOYAL = "loyal"
    ACTIVE = "active"
    PROMISING = "promising"
    NEW = "new"
    NEEDS_ATTENTION = "needs_attention"
    AT_RISK = "at_risk"
    PREVIOUSLY_LOYAL = "previously_loyal"
    ALMOST_LOST = "almost_lost"
    DORMANT = "dormant"
    PROSPECTS = "prospects"
