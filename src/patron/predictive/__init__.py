"""Predictions per customer (lifetime value, churn risk, next order) and text sentiment."""
