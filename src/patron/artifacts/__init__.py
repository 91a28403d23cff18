"""Versioned model artifacts (trained models, their metrics and model cards) in the database."""
