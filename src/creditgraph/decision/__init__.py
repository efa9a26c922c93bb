"""Decisions: products, policy rules, limits, risk-based pricing and offers (pure core)."""
