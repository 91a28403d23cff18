"""Recommendations: bought together, for you, upsell, trending, similar; offline evaluation."""
