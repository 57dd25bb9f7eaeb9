"""Recommendation models, one per module, behind a shared interface."""
