"""KPIs, RFM and cohorts: how the store is doing, computed from orders and events."""
