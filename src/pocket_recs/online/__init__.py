"""Serving recommendations from artifacts."""

from pocket_recs.online.recommender import Recommendation, Recommender

__all__ = ["Recommendation", "Recommender"]
